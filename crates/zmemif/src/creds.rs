//! Who may connect. A server reads each connecting peer's credentials (`SO_PEERCRED`: pid, uid,
//! gid as the kernel saw them at `connect`) and checks them against the port's allow-lists; a
//! client can check the uid of the server it reached before it sends its secret or any memory.
//!
//! The threat: an abstract socket (`@name`) has no file permissions, so any process in the network
//! namespace can connect and claim an interface id, and then receives that interface's packets.
//! A filesystem socket is guarded by its mode (0660 by default). So a server on an abstract name
//! with neither a secret nor an allow-list warns once (or, with `require_secret`, refuses to start).

use std::fmt;

use crate::error::{Error, Result};

/// A peer's credentials, as `SO_PEERCRED` reports them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerCred {
    /// 0 when the peer's pid is not visible from our pid namespace.
    pub pid: u32,
    pub uid: u32,
    /// The peer's effective gid at connect time (supplementary groups are not reported).
    pub gid: u32,
}

impl fmt::Display for PeerCred {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "uid {} gid {} pid {}", self.uid, self.gid, self.pid)
    }
}

/// What keeps strangers out of a server port (from its `PortConfig`).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Guard<'a> {
    pub id: u32,
    pub allow_uids: &'a [u32],
    pub allow_gids: &'a [u32],
    pub secret: bool,
    pub require_secret: bool,
}

fn list(ids: &[u32]) -> String {
    ids.iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Server: may this peer connect to the port? `Err` is the refusal reason sent in the DISCONNECT.
/// With both lists set, a peer matching either is allowed.
pub(crate) fn check_client(g: &Guard, peer: Option<PeerCred>) -> std::result::Result<(), String> {
    let (uids, gids) = (g.allow_uids, g.allow_gids);
    if uids.is_empty() && gids.is_empty() {
        return Ok(());
    }
    let Some(p) = peer else {
        return Err("peer credentials unavailable: refused by the allow-list".into());
    };
    if uids.contains(&p.uid) || gids.contains(&p.gid) {
        return Ok(());
    }
    Err(match (uids.is_empty(), gids.is_empty()) {
        (false, true) => format!("uid {} not allowed (allowed: {})", p.uid, list(uids)),
        (true, false) => format!(
            "uid {} gid {} not allowed (allowed gids: {})",
            p.uid,
            p.gid,
            list(gids)
        ),
        _ => format!(
            "uid {} gid {} not allowed (allowed uids: {}; gids: {})",
            p.uid,
            p.gid,
            list(uids),
            list(gids)
        ),
    })
}

/// Client: is the server on `addr` the one we expect (`expect`, the config's
/// `expect_server_uid`)? `Err` is (our reason, the reason we tell the server).
pub(crate) fn check_server(
    expect: Option<u32>,
    addr: &dyn fmt::Display,
    peer: Option<PeerCred>,
) -> std::result::Result<(), (String, String)> {
    let Some(want) = expect else {
        return Ok(());
    };
    match peer {
        Some(p) if p.uid == want => Ok(()),
        Some(p) => Err((
            format!(
                "the server on {addr} runs as uid {} (pid {}), not the expected uid {want}: \
                 refusing to connect (expectServerUid); stop that process or expect its uid",
                p.uid, p.pid
            ),
            format!("Client expects server uid {want}, not {}", p.uid),
        )),
        None => Err((
            format!(
                "the credentials of the server on {addr} are unavailable: refusing to connect \
                 (expectServerUid {want})"
            ),
            "Client could not check the server's uid".into(),
        )),
    }
}

/// A server port about to listen on `addr`: on an abstract name (`is_abstract`) with neither a
/// secret nor an allow-list it is an error under `require_secret`, else `Some(warning)` to print
/// once.
pub(crate) fn check_listener(
    g: &Guard,
    addr: &dyn fmt::Display,
    is_abstract: bool,
) -> Result<Option<String>> {
    let guarded = g.secret || !g.allow_uids.is_empty() || !g.allow_gids.is_empty();
    if guarded || !is_abstract {
        return Ok(None);
    }
    let risk = format!(
        "server interface {} listens on the abstract socket {addr} with no secret and no \
         allow-list: any process in this network namespace can connect as its client and \
         receive this interface's packets",
        g.id
    );
    let fix = "set a secret, or allowUids/allowGids (Rust: allow_uids/allow_gids), or use a \
               filesystem socket (guarded by its mode)";
    if g.require_secret {
        return Err(Error::invalid(format!(
            "{risk}; requireSecret forbids that: {fix}"
        )));
    }
    Ok(Some(format!(
        "zmemif: warning: {risk}. To close it, {fix}; requireSecret makes this an error."
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g<'a>(uids: &'a [u32], gids: &'a [u32]) -> Guard<'a> {
        Guard {
            allow_uids: uids,
            allow_gids: gids,
            ..Guard::default()
        }
    }

    const P: PeerCred = PeerCred {
        pid: 42,
        uid: 1001,
        gid: 1002,
    };

    #[test]
    fn allow_lists() {
        assert_eq!(check_client(&g(&[], &[]), None), Ok(()));
        assert_eq!(check_client(&g(&[1001], &[]), Some(P)), Ok(()));
        assert_eq!(check_client(&g(&[0], &[1002]), Some(P)), Ok(()));
        assert_eq!(
            check_client(&g(&[0, 1000], &[]), Some(P)).unwrap_err(),
            "uid 1001 not allowed (allowed: 0, 1000)"
        );
        assert_eq!(
            check_client(&g(&[], &[27]), Some(P)).unwrap_err(),
            "uid 1001 gid 1002 not allowed (allowed gids: 27)"
        );
        assert_eq!(
            check_client(&g(&[0], &[27]), Some(P)).unwrap_err(),
            "uid 1001 gid 1002 not allowed (allowed uids: 0; gids: 27)"
        );
        assert!(check_client(&g(&[0], &[]), None).is_err());
    }

    #[test]
    fn expected_server() {
        let addr = "@x";
        assert!(check_server(None, &addr, None).is_ok());
        let (ours, theirs) = check_server(Some(0), &addr, Some(P)).unwrap_err();
        assert!(
            ours.contains("runs as uid 1001 (pid 42), not the expected uid 0"),
            "{ours}"
        );
        assert_eq!(theirs, "Client expects server uid 0, not 1001");
        assert!(check_server(Some(1001), &addr, Some(P)).is_ok());
    }

    #[test]
    fn unguarded_abstract_listener() {
        let (abs, path) = ("@x", "/tmp/x.sock");
        let mut c = Guard::default();
        assert!(check_listener(&c, &path, false).unwrap().is_none());
        let w = check_listener(&c, &abs, true).unwrap().unwrap();
        assert!(w.contains("any process in this network namespace"), "{w}");
        c.require_secret = true;
        let e = check_listener(&c, &abs, true).unwrap_err();
        assert!(e.message.contains("requireSecret"), "{}", e.message);
        assert!(check_listener(&c, &path, false).unwrap().is_none());
        c.allow_uids = &[0];
        assert!(check_listener(&c, &abs, true).unwrap().is_none());
        c.allow_uids = &[];
        c.secret = true;
        assert!(check_listener(&c, &abs, true).unwrap().is_none());
    }
}
