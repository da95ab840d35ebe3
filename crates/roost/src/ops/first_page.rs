//! `GET /` when no service claims `/`: a small HTML page for someone who opens the server in
//! a browser (name, version, where things are, the services it serves), and the one stdout
//! line `roost serve` prints so scripts using port 0 learn the port.

use roost_core::App;
use std::fmt::Write;
use std::io::IsTerminal;
use std::net::SocketAddr;

/// The configuration reference, served at [`DOCS_PATH`] (linked from the first page).
pub(crate) const CONFIG_DOCS: &str = include_str!("../../../../docs/config.md");
/// Where [`CONFIG_DOCS`] is served.
pub(crate) const DOCS_PATH: &str = "/docs/config.md";

/// What the first page links to besides the services.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Links {
    /// `/dashboard` is on.
    pub dashboard: bool,
    /// Primus is on (`/primus`, `/primus/primus.js`).
    pub primus: bool,
    /// Socket.IO is on (`/socket.io/`).
    pub socketio: bool,
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The page for `app` as it is now (services registered later show up too).
pub(crate) fn render(app: &App, links: Links) -> String {
    let version = env!("CARGO_PKG_VERSION");
    let mut html = String::new();
    let _ = write!(
        html,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>Roost {version}</title>\
         <style>body{{font:16px/1.5 system-ui,sans-serif;max-width:44em;margin:2em auto;padding:0 1em;color:#222}}\
         code{{background:#f3f3f3;padding:0 .2em}}h1 small{{font-size:.5em;color:#777}}</style></head><body>\
         <h1>Roost <small>{version}</small></h1>\
         <p>A real-time service server speaking the Feathers 5 protocol over REST, Primus and Socket.IO.</p><ul>"
    );
    if links.dashboard {
        html.push_str("<li><a href=\"/dashboard\">Dashboard</a> (administrators)</li>");
    }
    let _ = write!(
        html,
        "<li><a href=\"{DOCS_PATH}\">Configuration reference</a></li>\
         <li><a href=\"/healthz\">/healthz</a> · <a href=\"/readyz\">/readyz</a> · <a href=\"/metrics\">/metrics</a></li>"
    );
    if links.primus {
        html.push_str(
            "<li>Primus websockets at <code>/primus</code>; browser client library at \
             <a href=\"/primus/primus.js\"><code>/primus/primus.js</code></a></li>",
        );
    }
    if links.socketio {
        html.push_str("<li>Socket.IO at <code>/socket.io/</code></li>");
    }
    html.push_str("</ul><h2>Services</h2>");
    let mut paths = app.service_paths();
    paths.sort();
    if paths.is_empty() {
        html.push_str("<p>No services are registered.</p>");
    } else {
        html.push_str("<ul>");
        for path in paths {
            let path = escape(path.trim_matches('/'));
            let _ = write!(html, "<li><code>/{path}</code></li>");
        }
        html.push_str("</ul>");
    }
    html.push_str("</body></html>\n");
    html
}

/// The line `roost serve` prints on stdout once it listens, coloured only on a terminal.
pub(crate) fn listening_line(addr: SocketAddr, colour: bool) -> String {
    if colour {
        format!("\x1b[1mlistening on\x1b[0m \x1b[32mhttp://{addr}\x1b[0m")
    } else {
        format!("listening on http://{addr}")
    }
}

/// Prints [`listening_line`] on stdout (flushed: scripts read it through a pipe).
pub(crate) fn announce(addr: SocketAddr) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let colour = out.is_terminal();
    let _ = writeln!(out, "{}", listening_line(addr, colour));
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_lists_services_escaped() {
        let app = App::new();
        app.use_service(
            "a<b>",
            roost_core::memory::MemoryService::new(Default::default()),
            Default::default(),
        )
        .unwrap();
        let html = render(
            &app,
            Links {
                dashboard: true,
                primus: true,
                socketio: false,
            },
        );
        assert!(html.contains("/a&lt;b&gt;"), "{html}");
        assert!(html.contains("href=\"/dashboard\""));
        assert!(!html.contains("socket.io"));
        assert_eq!(
            listening_line("127.0.0.1:1".parse().unwrap(), false),
            "listening on http://127.0.0.1:1"
        );
    }
}
