//! The authentication service is registered on the app it reaches: it holds the app weakly,
//! so dropping the app frees it (issue #19: no reference cycle).
#![allow(clippy::unwrap_used)]

use roost_auth::{AuthConfig, Authentication, SocketSessions};
use roost_core::{App, MemoryService, ServiceOptions};

#[tokio::test]
async fn dropping_the_app_frees_it_and_its_authentication() {
    let app = App::new();
    app.use_service("users", MemoryService::default(), ServiceOptions::default())
        .unwrap();
    let auth = Authentication::new(&app, AuthConfig::with_secret("change me")).unwrap();
    auth.mount("authentication").unwrap();
    let sessions = SocketSessions::install(&auth);
    assert_eq!(sessions.armed(), 0);
    assert!(auth.app().is_ok());
    let weak = app.downgrade();
    drop((app, sessions));
    // Only `auth` is left, and it does not keep the app alive.
    assert!(weak.upgrade().is_none());
    let e = auth.app().unwrap_err();
    assert_eq!(e.message, "The application is no longer running");
    // Mounting again needs the app: a clear error, no panic.
    assert!(auth.mount("authentication").is_err());
}
