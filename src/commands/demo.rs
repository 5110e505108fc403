//! `groupsync demo`: the story of [`crate::demo`] in a temporary folder,
//! against an in-process emulator; nothing to set up.

use std::path::PathBuf;

use anyhow::Context;

use crate::commands::outcome::Outcome;
use crate::pipeline::render;

/// Runs the story, then removes its folder.
pub async fn run() -> anyhow::Result<Outcome> {
    let workdir = tempfile_dir()?;
    let mut out = std::io::stdout().lock();
    let result = crate::demo::run(&workdir, &mut out, render::stdout_wants_color()).await;
    let _ = std::fs::remove_dir_all(&workdir);
    match result {
        // `demo | head`: the reader left, as with `plan | head`; not an error.
        Err(err) if is_broken_pipe(&err) => Ok(Outcome::Clean),
        other => other.map(|()| Outcome::Clean),
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// A fresh private folder under the system's temporary directory.
fn tempfile_dir() -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let base = std::env::temp_dir();
    for attempt in 0..100u32 {
        let path = base.join(format!("groupsync-demo-{}-{attempt}", std::process::id()));
        match std::fs::DirBuilder::new().mode(0o700).create(&path) {
            Ok(()) => return Ok(path),
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(err) => return Err(err).context("cannot create a temporary folder for the demo"),
        }
    }
    anyhow::bail!(
        "cannot create a temporary folder for the demo under {}",
        base.display()
    )
}

#[cfg(test)]
mod tests {
    use super::is_broken_pipe;

    #[test]
    fn a_broken_pipe_anywhere_in_the_chain_is_recognised() {
        let pipe = anyhow::Error::from(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
            .context("cannot write the demo");
        assert!(is_broken_pipe(&pipe));
        assert!(!is_broken_pipe(&anyhow::anyhow!("other")));
    }
}
