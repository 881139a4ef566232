//! Server URLs shown without their passwords.

/// Query parameters whose values are secrets (`?password=`, the `?pass=` of
/// Redis unix-socket URLs, MongoDB's `tlsCertificateKeyFilePassword` and
/// `proxyPassword`, ...).
const SECRET_PARAMS: &[&str] = &[
    "password",
    "pass",
    "passwd",
    "pwd",
    "secret",
    "token",
    "authtoken",
    "tlscertificatekeyfilepassword",
    "proxypassword",
];

/// `url` with every password replaced by `***`: the one of `user:password@`
/// (every host of a multi-host URL shares it) and the values of query
/// parameters that carry one (`password`, `pass`, `token`, ...). What every
/// message, `Debug` and `Display` of this workspace shows of a server URL.
///
/// ```
/// use stash_engine_api::redact_url;
/// assert_eq!(redact_url("redis://admin:s3cr3t@host:6379/0"), "redis://admin:***@host:6379/0");
/// assert_eq!(redact_url("redis://:s3cr3t@host"), "redis://:***@host");
/// assert_eq!(redact_url("redis+unix:///run/redis.sock?db=1&pass=s3cr3t"), "redis+unix:///run/redis.sock?db=1&pass=***");
/// assert_eq!(redact_url("mongodb://u:p%40ss@a:1,b:2/db?authSource=admin"), "mongodb://u:***@a:1,b:2/db?authSource=admin");
/// assert_eq!(
///     redact_url("mongodb://h/?tls=true&tlsCertificateKeyFile=/k.pem&tlsCertificateKeyFilePassword=s3cr3t"),
///     "mongodb://h/?tls=true&tlsCertificateKeyFile=/k.pem&tlsCertificateKeyFilePassword=***"
/// );
/// assert_eq!(redact_url("redis://host:6379"), "redis://host:6379");
/// ```
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(i) => url.split_at(i + 3),
        None => ("", url),
    };
    let (before_query, query) = match rest.find('?') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let authority_end = before_query.find('/').unwrap_or(before_query.len());
    let mut out = String::with_capacity(url.len());
    out.push_str(scheme);
    match before_query[..authority_end].rfind('@') {
        Some(at) => {
            let userinfo = &before_query[..at];
            match userinfo.find(':') {
                Some(colon) => {
                    out.push_str(&userinfo[..colon]);
                    out.push_str(":***");
                }
                None => out.push_str(userinfo),
            }
            out.push_str(&before_query[at..]);
        }
        None => out.push_str(before_query),
    }
    if let Some(query) = query {
        out.push('?');
        for (i, pair) in query.split('&').enumerate() {
            if i > 0 {
                out.push('&');
            }
            match pair.split_once('=') {
                Some((name, _)) if SECRET_PARAMS.iter().any(|p| p.eq_ignore_ascii_case(name)) => {
                    out.push_str(name);
                    out.push_str("=***");
                }
                _ => out.push_str(pair),
            }
        }
    }
    out
}
