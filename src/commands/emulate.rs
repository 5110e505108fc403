//! `groupsync emulate`: the bundled pod emulator, served until SIGINT/SIGTERM.

use anyhow::Context;

use crate::cli::args::EmulateArgs;
use crate::commands::outcome::Outcome;
use crate::commands::output::print_stdout;
use crate::config::{Overrides, Settings};
use crate::emulator::{self, Emulator, EmulatorConfig, Entitlements};
use crate::pod::auth::SESSION_TOKEN_ENV;
use crate::service::logging;
use crate::shutdown::{self, SecondSignalSender};
use crate::text::counted;

/// The emulator reads no config file: only the log flags (and `RUST_LOG`,
/// `GROUPSYNC_LOG_FORMAT`) apply to it.
pub fn init_logging_from_flags(overrides: &Overrides) -> anyhow::Result<()> {
    let log_flags = Overrides {
        log_format: overrides.log_format,
        log_level: overrides.log_level.clone(),
        ..Overrides::default()
    };
    let log = Settings::from_overrides(&log_flags)?.log;
    Ok(logging::init(log.format, &log.level)?)
}

/// Serves the emulator, prints where and a session token for it, and stops
/// on the first SIGINT/SIGTERM.
pub async fn run(args: EmulateArgs, second_signal: SecondSignalSender) -> anyhow::Result<Outcome> {
    let seed = match &args.seed {
        Some(path) => emulator::load_seed(path).map_err(anyhow::Error::msg)?,
        None => EmulatorConfig::default(),
    };
    let bots = match &args.public_key {
        Some(path) => {
            let pem = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            vec![(args.bot_username.clone(), pem)]
        }
        None => Vec::new(),
    };
    let emulator = Emulator::start(args.listen, EmulatorConfig { bots, ..seed })
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let token = emulator.add_session(Entitlements::ALL);
    print_stdout(&format!(
        "pod emulator serving {}\n  pod URL:   {}\n  login URL: {}\n\
         A session token for it (made up by the emulator, valid until it stops):\n  export {SESSION_TOKEN_ENV}={token}\n\
         Stop with Ctrl-C.\n",
        counted(emulator.groups().len(), "group"),
        emulator.pod_url(),
        emulator.login_url(),
    ))?;
    let (trigger, mut stop) = shutdown::channel();
    shutdown::trigger_on_signals(trigger, second_signal)?;
    stop.requested().await;
    emulator.shutdown().await;
    Ok(Outcome::Clean)
}
