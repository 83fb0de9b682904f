//! Progress bars on a terminal; nothing otherwise (logs carry the same facts).

use std::io::IsTerminal;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The progress display of one `sync`.
#[derive(Debug, Clone)]
pub struct Progress {
    multi: Option<MultiProgress>,
}

impl Progress {
    /// Bars when stderr is a terminal, otherwise hidden.
    pub fn auto() -> Self {
        if std::io::stderr().is_terminal() {
            Progress {
                multi: Some(MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
            }
        } else {
            Progress::hidden()
        }
    }

    /// No display.
    pub fn hidden() -> Self {
        Progress { multi: None }
    }

    /// A spinner line for one database.
    pub fn database(&self, name: &str) -> DbProgress {
        let bar = match &self.multi {
            Some(m) => {
                let bar = m.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template("{spinner} {prefix:<16} {pos:>8} pages  {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_prefix(name.to_string());
                bar.enable_steady_tick(std::time::Duration::from_millis(200));
                bar
            }
            None => ProgressBar::hidden(),
        };
        DbProgress { bar }
    }
}

/// The line of one database.
#[derive(Debug, Clone)]
pub struct DbProgress {
    bar: ProgressBar,
}

impl DbProgress {
    /// Pages fetched so far.
    pub fn pages(&self, n: u64) {
        self.bar.set_position(n);
    }

    /// Requests sent and 429s waited out so far.
    pub fn requests(&self, requests: u64, throttled: u64) {
        self.bar
            .set_message(format!("{requests} requests, {throttled} throttled"));
    }

    /// Done.
    pub fn finish(&self, pages: u64) {
        self.bar.set_position(pages);
        self.bar.finish_with_message("done");
    }

    /// Failed.
    pub fn fail(&self, message: &str) {
        self.bar.abandon_with_message(format!("failed: {message}"));
    }
}
