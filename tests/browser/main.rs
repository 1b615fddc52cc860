//! The pages in a real browser: headless Chromium driven over WebDriver (fantoccini and
//! chromedriver) against servers on port 0; each test saves screenshots under
//! target/screenshots/. One test binary per area; each module is one concern.

#[path = "../helpers/mod.rs"]
mod helpers;

mod booking;
mod chrome;
mod keyboard;
mod korean;
mod on_sale;
mod stage;
mod waiting_room;
