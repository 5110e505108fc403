//! `groupsync notify test`: one test message to every target of `notify:`,
//! one attempt each, and how each went, naming each target by its kind and
//! its `stream_id`, `room_name` or `url`. Exit 1 if any failed (or none is
//! configured).

use crate::cli::args::NotifyCommand;
use crate::commands::outcome::Outcome;
use crate::commands::output::print_stdout;
use crate::config::Settings;
use crate::notify::Notifications;
use crate::pipeline::cycle::pod_client;
use crate::pod::auth::SESSION_TOKEN_ENV;
use crate::text::escaped;

/// Runs `groupsync notify COMMAND`.
pub async fn run(settings: Settings, command: NotifyCommand) -> anyhow::Result<Outcome> {
    match command {
        NotifyCommand::Test => test(settings).await,
    }
}

async fn test(settings: Settings) -> anyhow::Result<Outcome> {
    if settings.notify.targets.is_empty() {
        anyhow::bail!("no notification targets: `notify:` in the config file lists none");
    }
    let client = pod_client(&settings, std::env::var(SESSION_TOKEN_ENV).ok())?;
    let notifications = Notifications::start(&settings, client.as_ref(), None)?;
    let results = notifications.test().await;
    let mut text = String::new();
    let mut failed = 0;
    for (target, result) in &results {
        match result {
            Ok(()) => text.push_str(&format!("ok      {target}\n")),
            Err(error) => {
                failed += 1;
                text.push_str(&format!("FAILED  {target}: {}\n", escaped(&error.message)));
            }
        }
    }
    text.push_str(&format!(
        "{} of {} delivered.\n",
        results.len() - failed,
        crate::text::counted(results.len(), "test message")
    ));
    print_stdout(&text)?;
    Ok(if failed == 0 {
        Outcome::Clean
    } else {
        Outcome::Failed
    })
}
