//! env_logger set up for a service: `info` unless RUST_LOG says otherwise,
//! stderr, one line per record. JSON access lines are printed bare so each
//! line is a JSON object a log shipper can parse.

use std::io::Write;

use crate::access_log;

pub fn init(json_access: bool) {
    let mut builder =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    builder.target(env_logger::Target::Stderr);
    builder.format(move |buf, record| {
        if json_access && record.target() == access_log::TARGET {
            // The entry is a JSON object; the time goes in as its first field.
            let entry = record.args().to_string();
            let fields = entry.strip_prefix('{').unwrap_or(&entry);
            writeln!(buf, "{{\"time\":\"{}\",{}", buf.timestamp_millis(), fields)
        } else {
            writeln!(
                buf,
                "[{} {} {}] {}",
                buf.timestamp_millis(),
                record.level(),
                record.target(),
                record.args()
            )
        }
    });
    let _ = builder.try_init();
}
