//! In-place redraw for `--watch`. A frame is rendered to a string first and written with one
//! `write` (cursor home, each line followed by clear-to-end-of-line, then clear below), so the
//! terminal never shows a blank or half-drawn screen, which is what makes clear-then-print
//! redraws flicker. Without a terminal, changed frames are printed one after another.

use crossterm::cursor::{Hide, MoveTo, Show};
use crossterm::queue;
use crossterm::terminal::{Clear, ClearType};
use std::io::{self, IsTerminal, Write};

pub struct Screen {
    terminal: bool,
    last: Option<String>,
}

impl Screen {
    pub fn stdout() -> Screen {
        Screen {
            terminal: io::stdout().is_terminal(),
            last: None,
        }
    }

    /// Shows `frame`, unless it is the frame already on screen.
    pub fn show(&mut self, frame: &str) -> io::Result<()> {
        if self.last.as_deref() == Some(frame) {
            return Ok(());
        }
        let mut buffer: Vec<u8> = Vec::with_capacity(frame.len() * 2);
        if self.terminal {
            if self.last.is_none() {
                queue!(buffer, Hide, Clear(ClearType::All))?;
            }
            queue!(buffer, MoveTo(0, 0))?;
            for line in frame.lines() {
                buffer.extend_from_slice(line.as_bytes());
                queue!(buffer, Clear(ClearType::UntilNewLine))?;
                buffer.push(b'\n');
            }
            queue!(buffer, Clear(ClearType::FromCursorDown))?;
        } else {
            if self.last.is_some() {
                buffer.push(b'\n');
            }
            buffer.extend_from_slice(frame.as_bytes());
        }
        let mut stdout = io::stdout().lock();
        stdout.write_all(&buffer)?;
        stdout.flush()?;
        self.last = Some(frame.to_string());
        Ok(())
    }
}

impl Drop for Screen {
    /// Gives the cursor back however the watch ends (Ctrl-C, timeout, error).
    fn drop(&mut self) {
        if self.terminal && self.last.is_some() {
            let mut stdout = io::stdout();
            let _ = queue!(stdout, Show);
            let _ = stdout.flush();
        }
    }
}
