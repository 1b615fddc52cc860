//! Headless Chromium for the tests: one chromedriver per test on a free loopback port, one
//! browser per WebDriver session (fantoccini) with a new, empty profile, screenshots under
//! target/screenshots/, and waiting for what a page shows by polling it (no sleeps).
//! scripts/services.sh installs Debian's chromium and chromium-driver.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
/// How long a page gets to show what a test waits for (a busy 2-core machine included).
pub const PATIENCE: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(100);

/// A chromedriver process on a free loopback port, killed on drop.
pub struct Chromedriver {
    child: Child,
    port: u16,
}

impl Chromedriver {
    pub async fn start() -> Chromedriver {
        for _ in 0..5 {
            let port = free_port();
            let child = Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| {
                    panic!("{CHROMEDRIVER} does not run ({e}): scripts/services.sh installs it")
                });
            let mut driver = Chromedriver { child, port };
            if driver.answers().await {
                return driver;
            }
        }
        panic!("chromedriver did not answer on any of 5 ports");
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Waits until /status says ready; false when the process ended (its port was taken).
    async fn answers(&mut self) -> bool {
        let http = reqwest::Client::new();
        for _ in 0..200 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            let status = http.get(format!("{}/status", self.url())).send().await;
            if let Ok(status) = status {
                if let Ok(body) = status.json::<Value>().await {
                    if body["value"]["ready"] == true {
                        return true;
                    }
                }
            }
            tokio::time::sleep(POLL).await;
        }
        false
    }

    /// A new browser: headless Chromium with a new, empty profile.
    pub async fn open(&self, name: &str, window: Window) -> Browser {
        self.open_with(name, window, &[]).await
    }

    /// A new browser with extra command-line switches (`--accept-lang=ko`).
    pub async fn open_with(&self, name: &str, window: Window, extra: &[&str]) -> Browser {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let profile = target_dir()
            .join("tmp/browser-profiles")
            .join(format!("{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&profile);
        std::fs::create_dir_all(&profile).unwrap();
        let (width, height) = window.size();
        let mut args = vec![
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            "--hide-scrollbars".into(),
            "--force-device-scale-factor=1".into(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.display()),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        let mut options = json!({"binary": CHROMIUM, "args": args});
        if let Window::Phone = window {
            // Headless windows are at least 500 px wide: a phone's viewport is emulated.
            options["mobileEmulation"] =
                json!({"deviceMetrics": {"width": width, "height": height, "pixelRatio": 1.0}});
        }
        let capabilities = json!({"browserName": "chrome", "goog:chromeOptions": options});
        let Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url())
            .await
            .unwrap_or_else(|e| panic!("chromium starts for {name}: {e}"));
        let session = client.session_id().await.unwrap().unwrap();
        Browser {
            client: Some(client),
            window,
            session,
            driver_port: self.port,
            profile,
            name: name.to_string(),
        }
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The window a browser opens with.
#[derive(Clone, Copy)]
pub enum Window {
    Desktop,
    /// A phone's width.
    Phone,
}

impl Window {
    fn size(self) -> (u32, u32) {
        match self {
            Window::Desktop => (1200, 1150),
            Window::Phone => (390, 844),
        }
    }
}

/// One browser session; closed (and its profile deleted) on drop, if not before.
pub struct Browser {
    client: Option<Client>,
    window: Window,
    session: String,
    driver_port: u16,
    profile: PathBuf,
    pub name: String,
}

impl Browser {
    fn client(&self) -> &Client {
        self.client.as_ref().expect("the browser is open")
    }

    pub async fn goto(&self, url: &str) {
        self.client().goto(url).await.unwrap();
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page.
    pub async fn run(&self, script: &str, args: Vec<Value>) -> Value {
        self.client()
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("{}: script failed: {e}", self.name))
    }

    /// The text of the first element `css` matches, when it is shown (None otherwise).
    pub async fn shown_text(&self, css: &str) -> Option<String> {
        let script = "const el = document.querySelector(arguments[0]);
                      return el && el.checkVisibility() ? el.innerText : null;";
        // While a page is being left, scripts may fail: that reads as not shown yet.
        match self.client().execute(script, vec![json!(css)]).await {
            Ok(Value::String(text)) => Some(text),
            _ => None,
        }
    }

    /// An attribute of the first element `css` matches.
    pub async fn attribute(&self, css: &str, name: &str) -> Option<String> {
        let element = self.client().find(Locator::Css(css)).await.ok()?;
        element.attr(name).await.ok().flatten()
    }

    /// Polls `check` until it gives a value; after [`PATIENCE`] saves a screenshot and
    /// fails, saying `what` it waited for and what the page showed.
    pub async fn wait_until<T, F, Fut>(&self, what: &str, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if let Some(value) = check().await {
                return value;
            }
            if tokio::time::Instant::now() >= deadline {
                self.give_up(what).await;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until the element `css` is shown with a text `accept` takes, and returns it.
    pub async fn wait_for_text(
        &self,
        css: &str,
        what: &str,
        accept: impl Fn(&str) -> bool,
    ) -> String {
        self.wait_until(what, || async {
            self.shown_text(css).await.filter(|text| accept(text))
        })
        .await
    }

    /// Waits until `css` is shown with a text containing `part`.
    pub async fn wait_for(&self, css: &str, part: &str) -> String {
        self.wait_for_text(css, &format!("{css} shows {part:?}"), |t| t.contains(part))
            .await
    }

    /// Waits until the page's address has the path `path`.
    pub async fn wait_for_path(&self, path: &str) {
        self.wait_until(&format!("the address becomes {path}"), || async {
            let url = self.client().current_url().await.ok()?;
            (url.path() == path).then_some(())
        })
        .await
    }

    /// Waits until the element `css` has attribute `name` equal to `value`.
    pub async fn wait_for_attribute(&self, css: &str, name: &str, value: &str) {
        self.wait_until(&format!("{css} has {name}={value:?}"), || async {
            (self.attribute(css, name).await.as_deref() == Some(value)).then_some(())
        })
        .await
    }

    async fn give_up(&self, what: &str) -> ! {
        self.screenshot(&format!("{}-timeout", self.name)).await;
        let shown = self.shown_text("body").await.unwrap_or_default();
        let url = self.client().current_url().await.map(|u| u.to_string());
        panic!(
            "{}: timed out after {PATIENCE:?} waiting until {what}; at {url:?} the page shows:\n{shown}",
            self.name
        );
    }

    pub async fn click(&self, css: &str) {
        self.client()
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{}: no {css}: {e}", self.name))
            .click()
            .await
            .unwrap_or_else(|e| panic!("{}: clicking {css}: {e}", self.name));
    }

    /// Presses and releases `key` on whatever has the focus.
    pub async fn press(&self, key: Key) {
        let actions = KeyActions::new("keyboard".into())
            .then(KeyAction::Down { value: key.into() })
            .then(KeyAction::Up { value: key.into() });
        self.client().perform_actions(actions).await.unwrap();
    }

    /// What has the focus: its id, `seat-N` or `schedule-N` for the seat map's and the
    /// schedules' buttons, otherwise its tag name.
    pub async fn focused(&self) -> String {
        let script = "const el = document.activeElement;
            if (el.id) return el.id;
            if (el.dataset.seat) return 'seat-' + el.dataset.seat;
            if (el.dataset.schedule) return 'schedule-' + el.dataset.schedule;
            return el.tagName.toLowerCase();";
        let focused = self.run(script, vec![]).await;
        focused.as_str().unwrap_or_default().to_string()
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let field = self.client().find(Locator::Css(css)).await.unwrap();
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    /// This tab's sessionStorage entry `key`.
    pub async fn stored(&self, key: &str) -> Option<String> {
        self.run(
            "return sessionStorage.getItem(arguments[0]);",
            vec![json!(key)],
        )
        .await
        .as_str()
        .map(str::to_string)
    }

    /// Saves what the window shows as target/screenshots/{name}.png.
    /// A desktop window is cut to the page's content for it (and set back after); a
    /// phone's is taken whole.
    pub async fn screenshot(&self, name: &str) {
        let dir = target_dir().join("screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let fitted = match self.window {
            Window::Desktop => self.fit_to_content().await,
            Window::Phone => None,
        };
        if let Ok(png) = self.client().screenshot().await {
            std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
        }
        if let Some((width, height)) = fitted {
            let _ = self.client().set_window_size(width, height).await;
        }
    }

    /// Makes the window as tall as the page's shown content (and the footer); returns the
    /// size it had.
    async fn fit_to_content(&self) -> Option<(u32, u32)> {
        let script = "const main = document.querySelector('main');
            if (!main) return null;
            let bottom = 0;
            for (const el of main.querySelectorAll(':scope > *')) {
              if (el.checkVisibility()) bottom = Math.max(bottom, el.getBoundingClientRect().bottom + scrollY);
            }
            const foot = document.querySelector('footer');
            return Math.ceil(bottom + 48 + (foot ? foot.offsetHeight : 0) + outerHeight - innerHeight);";
        let height = self.client().execute(script, vec![]).await.ok()?.as_u64()?;
        let (width, before) = self.client().get_window_size().await.ok()?;
        let (width, before) = (width as u32, before as u32);
        let fitted = (height as u32).clamp(400, 2400);
        self.client().set_window_size(width, fitted).await.ok()?;
        Some((width, before))
    }

    /// Ends the session (Chromium quits) and deletes the profile.
    pub async fn close(mut self) {
        if let Some(client) = self.client.take() {
            let _ = client.close().await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if self.client.take().is_some() {
            // A test that failed midway: end the session with a plain blocking request,
            // since Chromium outlives a killed chromedriver.
            end_session(self.driver_port, &self.session);
        }
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// `DELETE /session/{id}` on chromedriver, blocking (from a destructor).
fn end_session(port: u16, session: &str) {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let request = format!(
        "DELETE /session/{session} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).is_ok() {
        let _ = stream.read_to_end(&mut Vec::new());
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The build's target directory (target/, or CARGO_TARGET_DIR).
fn target_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}
