//! Why the gateway refused a request before routing it: a closed set, used
//! as a metric label and a log field. What the client is answered is the
//! edge's business (`edge::refusal::kind`).

/// Why a head was refused. A closed set: a metric label and a log field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    HeadTooLarge,
    TooManyFields,
    HeadTimeout,
    /// Unparseable, or failed Pingora's framing and authority checks.
    Malformed,
    /// The client went away half-way through its head: nothing to answer.
    ClosedMidHead,
    /// `CONNECT`: a gateway in front of an app is no tunnel.
    Method,
    /// A path or host the upstream could read as another request than the
    /// gateway would route (`request::TargetRefusal`).
    Target,
}

impl Refusal {
    pub const ALL: [Refusal; 7] = [
        Refusal::HeadTooLarge,
        Refusal::TooManyFields,
        Refusal::HeadTimeout,
        Refusal::Malformed,
        Refusal::ClosedMidHead,
        Refusal::Method,
        Refusal::Target,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::HeadTooLarge => "head_too_large",
            Refusal::TooManyFields => "too_many_fields",
            Refusal::HeadTimeout => "head_timeout",
            Refusal::Malformed => "malformed",
            Refusal::ClosedMidHead => "closed_mid_head",
            Refusal::Method => "method_not_allowed",
            Refusal::Target => "ambiguous_target",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}
