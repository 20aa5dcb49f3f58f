//! The hand-written parts of the man pages, as roff. What they say is what
//! the code does: signals in `server.rs` (and `log_files.rs` for USR1), exit
//! codes in `main.rs`, variables in `env.rs` and `cli.rs`.

/// helmgate(1) after the subcommands.
pub const HELMGATE_1_SECTIONS: &str = r#".SH FILES
.TP
\fI/etc/helmgate/helmgate.toml\fR
The configuration file, unless \fB\-\-config\fR or \fBHELMGATE_CONFIG\fR name another; see
\fBhelmgate.toml\fR(5).
.TP
\fI/usr/share/helmgate/helmgate.schema.json\fR
The configuration's JSON Schema for editors, as \fBhelmgate schema\fR prints it (Debian package).
.TP
\fI/usr/lib/systemd/system/helmgate.service\fR
The hardened systemd unit (Debian package). It runs \fBhelmgate\fR as the user \fBhelmgate\fR with
\fB\-\-upgrade\-sock /run/helmgate/upgrade.sock\fR.
.TP
\fI/var/log/helmgate/\fR
Where the Debian package's unit may write log files (\fBLogsDirectory=helmgate\fR), when
\fB[log] access_log_path\fR or \fBerror_log_path\fR name files there; without them, logs go to
standard error (the journal).
.TP
\fI/etc/logrotate.d/helmgate\fR
Rotates \fI/var/log/helmgate/*.log\fR and sends \fBSIGUSR1\fR (Debian package).
.TP
\fI/tmp/helmgate_upgrade.sock\fR
The default socket of the \fBSIGQUIT\fR hand\-over (\fB\-\-upgrade\-sock\fR).
.SH SIGNALS
.TP
\fBSIGHUP\fR
Reload: read the configuration file and the environment again. If they are valid, new requests
get the new policy at once and requests in flight finish with the old one; TLS certificates and
keys are read again too. If not, the running configuration stays and an ERROR line lists every
problem. \fB[server]\fR settings (listeners, threads, limits) and \fB[admin] listen\fR apply only
after a restart; a reload that changes them logs a WARN.
.TP
\fBSIGTERM\fR
Graceful stop: close the listeners, let requests in flight finish for up to
\fB[server] grace_period_secs\fR (default 30 s), and exit 0 as soon as the last one is done.
.TP
\fBSIGINT\fR
Fast stop: exit 0 at once; requests in flight are cut off. The access log is flushed first.
.TP
\fBSIGQUIT\fR
Graceful upgrade: hand the listening sockets over \fB\-\-upgrade\-sock\fR to a new helmgate started
with \fB\-\-upgrade\fR, keep serving for about 5 s, then drain as for \fBSIGTERM\fR and exit 0.
Without a new process to take them, it logs that and stops all the same.
.TP
\fBSIGUSR1\fR
Reopen the log files (\fB[log] access_log_path\fR and \fBerror_log_path\fR) at their
configured paths, as \fBnginx \-s reopen\fR does: after logrotate has moved them away, new lines
go to new files. Logs on standard error are not affected.
.SH "EXIT STATUS"
.TP
\fB0\fR
\fB\-\-check\fR found the configuration valid; the gateway stopped after \fBSIGTERM\fR,
\fBSIGINT\fR or \fBSIGQUIT\fR; a subcommand did its work (for \fBhealthcheck\fR: a 200 within 2 s).
.TP
\fB1\fR
The configuration is invalid or unreadable (at \fB\-\-check\fR or at start; the message names every
problem), a listener could not be opened, the health check failed, or output could not be written.
The reason is on standard error, after \fBhelmgate:\fR.
.TP
\fB2\fR
The command line is wrong (an unknown flag, a missing value).
.SH ENVIRONMENT
.TP
\fBHELMGATE_CONFIG\fR
The configuration file, as \fB\-\-config\fR (the flag wins).
.TP
\fBHELMGATE_UPGRADE_SOCK\fR
The hand\-over socket, as \fB\-\-upgrade\-sock\fR (the flag wins).
.TP
\fBHELMGATE_ENV\fR
The environment profile, \fBproduction\fR or \fBdevelopment\fR. It wins over \fBNODE_ENV\fR and the
file's \fBenvironment\fR and loses to \fB\-\-environment\fR; any other value is a configuration error.
.TP
\fBNODE_ENV\fR
The same, after \fBHELMGATE_ENV\fR; a value other than production or development is ignored, with a
warning. A development profile chosen over a file that says production is warned about.
.TP
\fBCORS_ALLOWED_ORIGINS\fR
Comma\-separated origins that replace the top\-level \fB[cors] allowed_origins\fR (a route's own
list still wins); every entry is checked like the file's.
.TP
\fBHELMGATE_ADMIN_TOKEN\fR
The admin listener's bearer token; wins over \fB[admin] token\fR and keeps it out of the file.
.TP
\fBRUST_LOG\fR
Which log lines are written, in env_logger's syntax (\fBinfo\fR unless set), e.g. \fBdebug\fR or
\fBinfo,pingora_core=warn\fR.
.PP
A process keeps the environment it started with: a changed variable takes a restart, not a reload
(under systemd, \fBsystemctl edit helmgate\fR, then \fBsystemctl restart helmgate\fR).
.SH "SEE ALSO"
\fBhelmgate.toml\fR(5), \fBhelmgate\-completions\fR(1), \fBhelmgate\-healthcheck\fR(1),
\fBhelmgate\-manpage\fR(1), \fBhelmgate\-schema\fR(1), \fBhelmgate\-suggest\fR(1), \fBsystemctl\fR(1)
.PP
\fI/usr/share/doc/helmgate/README.md\fR (Debian package) or README.md in the source: every
behaviour in detail, with examples.
"#;

/// helmgate.toml(5) before the keys.
pub const TOML_5_HEAD: &str = r#".SH NAME
helmgate.toml \- configuration file of helmgate
.SH SYNOPSIS
\fI/etc/helmgate/helmgate.toml\fR
.SH DESCRIPTION
\fBhelmgate\fR(1) reads one TOML file: where to listen, the upstream app, the CORS policy and the
security headers, per environment profile and per route. \fBhelmgate \-\-check\fR validates a file
and prints the effective policy; every problem is reported with its key, line and column. A key
that is not listed below is an error, not ignored.
.PP
Settings layer, each over the one before: the top\-level tables (\fB[cors]\fR, \fB[headers]\fR),
the tables of the running environment (\fB[production]\fR or \fB[development]\fR), a route's own
tables (\fB[route.cors]\fR, \fB[route.headers]\fR), and the route's environment tables. A key left
out keeps the value of the layer below, and finally the default listed here; several defaults
depend on the environment.
.PP
This page is generated from the same definitions as the file's JSON Schema
(\fBhelmgate schema\fR), so every key the program accepts is here.
"#;

/// helmgate.toml(5) after the keys.
pub const TOML_5_TAIL: &str = r#".SH FILES
.TP
\fI/etc/helmgate/helmgate.toml\fR
The default location (\fB\-\-config\fR and \fBHELMGATE_CONFIG\fR choose another). Relative paths in it
(TLS certificates and keys) are relative to its directory.
.TP
\fI/usr/share/helmgate/helmgate.schema.json\fR
Its JSON Schema, for editors: a first line \fB#:schema /usr/share/helmgate/helmgate.schema.json\fR
lets taplo and VS Code's Even Better TOML check keys and types as you type.
.SH ENVIRONMENT
\fBHELMGATE_ENV\fR and \fBNODE_ENV\fR win over \fBenvironment\fR; \fBCORS_ALLOWED_ORIGINS\fR
replaces the top\-level \fB[cors] allowed_origins\fR; \fBHELMGATE_ADMIN_TOKEN\fR wins over
\fB[admin] token\fR. See \fBhelmgate\fR(1).
.SH EXAMPLE
.nf
environment = "production"
[server]
listen = ["0.0.0.0:8080"]
trusted_proxies = ["10.0.0.0/8"]
[upstream]
address = "127.0.0.1:3000"
[cors]
allowed_origins = ["https://app.example.com"]
[[route]]
name = "api"
path_prefix = "/api"
upstream = "api"
[upstreams.api]
address = "127.0.0.1:4000"
.fi
.SH "SEE ALSO"
\fBhelmgate\fR(1), \fBhelmgate\-schema\fR(1)
"#;
