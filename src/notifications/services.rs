//! The services notifications go to: `service.slack` (the Web API's `chat.postMessage` with a
//! bot token, or an incoming-webhook URL) and `service.webhook.<name>` (any HTTP endpoint).
//! Configuration as in Argo's notifications engine, after `$key` references are replaced with
//! the Secret's values; what a request looks like and what a response means are decided here,
//! without I/O.

use super::template::Notification;
use serde::Deserialize;
use serde_json::{Value as Json, json};

/// Slack's Web API, as Argo's default `apiURL`.
pub const SLACK_API_URL: &str = "https://slack.com/api/";

/// A value read from the Secret (or one that may carry one, as a webhook URL does): it prints
/// as `[redacted]`, so no log line, Event or error can show it.
#[derive(Clone, Default, PartialEq, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Service {
    Slack(Slack),
    Webhook(Webhook),
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Slack {
    #[serde(default)]
    pub token: Option<Secret>,
    /// An incoming webhook: messages go to the channel it was created for, without a token.
    #[serde(default, rename = "webhookURL")]
    pub webhook_url: Option<Secret>,
    #[serde(default, rename = "apiURL")]
    pub api_url: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub icon: Option<String>,
    /// Argo's option; recipients come from subscriptions, so it is accepted and unused.
    #[serde(default)]
    pub channels: Option<Vec<String>>,
    #[serde(default)]
    pub signing_secret: Option<Secret>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Webhook {
    pub url: Secret,
    #[serde(default)]
    pub headers: Vec<Header>,
    #[serde(default)]
    pub basic_auth: Option<BasicAuth>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    pub name: String,
    pub value: Secret,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    pub username: String,
    pub password: Secret,
}

/// `service.<kind>` or `service.webhook.<name>`: the service's name in subscriptions and its
/// parsed configuration.
pub fn parse(key_rest: &str, config: Json) -> Result<(String, Service), String> {
    let (name, service) = if key_rest == "slack" {
        let slack: Slack = serde_json::from_value(config).map_err(|e| e.to_string())?;
        if slack.token.is_none() && slack.webhook_url.is_none() {
            return Err("set token (a bot token, e.g. `token: $slack-token`) or webhookURL (an incoming webhook)".into());
        }
        ("slack".to_string(), Service::Slack(slack))
    } else if let Some(name) = key_rest.strip_prefix("webhook.") {
        if name.is_empty() || name.contains('.') {
            return Err("name the webhook: service.webhook.<name>, without dots".into());
        }
        let webhook: Webhook = serde_json::from_value(config).map_err(|e| e.to_string())?;
        (name.to_string(), Service::Webhook(webhook))
    } else {
        let kind = key_rest.split('.').next().unwrap_or(key_rest);
        return Err(format!(
            "service {kind} is not supported by Weir (supported: slack, webhook.<name>); remove the key or send through a webhook"
        ));
    };
    Ok((name, service))
}

/// One HTTP request. Its Debug form hides the URL's path and query and every header value,
/// where tokens and webhook secrets live.
#[derive(Clone, PartialEq)]
pub struct Request {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub basic_auth: Option<(String, String)>,
    pub body: String,
    /// Slack's Web API answers 200 with `"ok": false` for errors.
    pub slack_api: bool,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, redact_url(&self.url))
    }
}

/// `scheme://host[:port]/…`: where a request went, without what may be a secret.
pub fn redact_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split(['/', '?']).next().unwrap_or_default();
            let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
            format!("{scheme}://{host}/…")
        }
        None => "[redacted]".into(),
    }
}

fn json_field(field: &str, text: &Option<String>) -> Result<Option<Json>, String> {
    match text.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => serde_json::from_str(text)
            .map(Some)
            .map_err(|e| format!("the template's {field} is not JSON after rendering ({e})")),
    }
}

/// The request that delivers `notification` to `recipient` through `service` (named `name`).
pub fn request(
    name: &str,
    service: &Service,
    recipient: &str,
    notification: &Notification,
) -> Result<Request, String> {
    match service {
        Service::Slack(slack) => {
            let mut body = json!({ "text": notification.message });
            if let Some(a) = json_field("slack.attachments", &notification.slack_attachments)? {
                body["attachments"] = a;
            }
            if let Some(b) = json_field("slack.blocks", &notification.slack_blocks)? {
                body["blocks"] = b;
            }
            if let Some(username) = &slack.username {
                body["username"] = json!(username);
            }
            if let Some(icon) = &slack.icon {
                let field = if icon.starts_with(':') {
                    "icon_emoji"
                } else {
                    "icon_url"
                };
                body[field] = json!(icon);
            }
            let (url, headers, slack_api) = match (&slack.token, &slack.webhook_url) {
                (Some(token), _) => {
                    if recipient.is_empty() {
                        return Err("a Slack subscription needs a channel: notifications.argoproj.io/subscribe.<trigger>.slack: <channel>".into());
                    }
                    body["channel"] = json!(recipient);
                    let base = slack.api_url.as_deref().unwrap_or(SLACK_API_URL);
                    (
                        format!("{}/chat.postMessage", base.trim_end_matches('/')),
                        vec![("Authorization".to_string(), format!("Bearer {}", token.0))],
                        true,
                    )
                }
                (None, Some(url)) => (url.0.clone(), vec![], false),
                (None, None) => return Err("service.slack has neither token nor webhookURL".into()),
            };
            let mut headers = headers;
            headers.push((
                "Content-Type".into(),
                "application/json; charset=utf-8".into(),
            ));
            Ok(Request {
                method: "POST".into(),
                url,
                headers,
                basic_auth: None,
                body: body.to_string(),
                slack_api,
            })
        }
        Service::Webhook(hook) => {
            let Some(rendered) = notification.webhook.get(name) else {
                return Err(format!(
                    "the template has no webhook.{name} section; add one with method, path and body"
                ));
            };
            let method = if rendered.method.trim().is_empty() {
                "GET".to_string()
            } else {
                rendered.method.trim().to_uppercase()
            };
            Ok(Request {
                method,
                url: format!(
                    "{}{}",
                    hook.url.0.trim_end_matches('/'),
                    rendered.path.trim()
                ),
                headers: hook
                    .headers
                    .iter()
                    .map(|h| (h.name.clone(), h.value.0.clone()))
                    .collect(),
                basic_auth: hook
                    .basic_auth
                    .as_ref()
                    .map(|b| (b.username.clone(), b.password.0.clone())),
                body: rendered.body.clone(),
                slack_api: false,
            })
        }
    }
}

/// What a delivery attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Worth another try: 5xx, 429, a timeout, a connection that failed.
    Retry(String),
    /// Another try would fail the same way: other 4xx, Slack's `ok: false`.
    Rejected(String),
}

/// The outcome of a response with `status` and `body` to `request`. Bodies are not quoted
/// (a receiver may echo what it was sent); Slack's error code is, as it is Slack's own word.
pub fn outcome(request: &Request, status: u16, body: &str) -> Outcome {
    match status {
        200..=299 if request.slack_api => {
            let answer: Json = serde_json::from_str(body).unwrap_or(Json::Null);
            if answer["ok"] == json!(true) {
                Outcome::Delivered
            } else {
                let error = answer["error"].as_str().unwrap_or("no ok in the answer");
                if error == "ratelimited" {
                    Outcome::Retry(format!("Slack answered {error}"))
                } else {
                    Outcome::Rejected(format!("Slack answered {error}"))
                }
            }
        }
        200..=299 => Outcome::Delivered,
        429 | 500..=599 => Outcome::Retry(format!("HTTP {status}")),
        _ => Outcome::Rejected(format!("HTTP {status}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notifications::template::RenderedWebhook;

    fn slack(yaml: &str) -> Service {
        parse("slack", yaml_serde::from_str(yaml).unwrap())
            .unwrap()
            .1
    }

    fn note(message: &str) -> Notification {
        Notification {
            message: message.into(),
            ..Default::default()
        }
    }

    #[test]
    fn services_parse_or_say_why_not() {
        let cases: &[(&str, &str, Result<&str, &str>)] = &[
            ("slack", "token: xoxb-1", Ok("slack")),
            (
                "slack",
                "webhookURL: https://hooks.slack.com/services/T/B/X",
                Ok("slack"),
            ),
            ("slack", "username: weir", Err("set token")),
            ("slack", "token: x\ntokn: y", Err("unknown field `tokn`")),
            (
                "webhook.receiver",
                "url: http://127.0.0.1:1",
                Ok("receiver"),
            ),
            (
                "webhook.",
                "url: http://127.0.0.1:1",
                Err("name the webhook"),
            ),
            (
                "webhook.receiver",
                "headers: []",
                Err("missing field `url`"),
            ),
            (
                "teams",
                "recipientUrls: {}",
                Err("service teams is not supported"),
            ),
            (
                "email.gmail",
                "host: smtp",
                Err("service email is not supported"),
            ),
        ];
        for (key, yaml, expected) in cases {
            let got = parse(key, yaml_serde::from_str(yaml).unwrap());
            match (got, expected) {
                (Ok((name, _)), Ok(want)) => assert_eq!(&name, want, "{key}"),
                (Err(e), Err(want)) => assert!(e.contains(want), "{key}: {e}"),
                (got, want) => panic!("{key}: {got:?}, expected {want:?}"),
            }
        }
    }

    #[test]
    fn slack_web_api_requests() {
        let service = slack(
            "token: xoxb-secret\napiURL: http://127.0.0.1:9/api/\nusername: weir\nicon: \":rocket:\"",
        );
        let mut n = note("v1.2.0 rolled back");
        n.slack_attachments = Some("[{\"title\": \"web\"}]".into());
        let request = request("slack", &service, "deploys", &n).unwrap();
        assert_eq!(request.url, "http://127.0.0.1:9/api/chat.postMessage");
        assert!(
            request
                .headers
                .contains(&("Authorization".into(), "Bearer xoxb-secret".into()))
        );
        let body: Json = serde_json::from_str(&request.body).unwrap();
        assert_eq!(
            body,
            json!({"channel": "deploys", "text": "v1.2.0 rolled back", "attachments": [{"title": "web"}], "username": "weir", "icon_emoji": ":rocket:"})
        );
        assert!(request.slack_api);
        let debug = format!("{request:?}");
        assert!(
            !debug.contains("secret") && !debug.contains("api"),
            "{debug}"
        );
        let error = super::request("slack", &service, "", &n).unwrap_err();
        assert!(error.contains("needs a channel"), "{error}");
        n.slack_blocks = Some("not json".into());
        let error = super::request("slack", &service, "deploys", &n).unwrap_err();
        assert!(error.contains("slack.blocks is not JSON"), "{error}");
    }

    #[test]
    fn slack_incoming_webhooks_need_no_token() {
        let service = slack("webhookURL: https://hooks.slack.com/services/T/B/SECRET");
        let request = request("slack", &service, "", &note("hi")).unwrap();
        assert_eq!(request.url, "https://hooks.slack.com/services/T/B/SECRET");
        assert!(!request.slack_api);
        assert_eq!(format!("{request:?}"), "POST https://hooks.slack.com/…");
    }

    #[test]
    fn webhook_requests() {
        let (name, service) = parse(
            "webhook.receiver",
            yaml_serde::from_str("url: http://127.0.0.1:9/\nheaders:\n- name: X-Token\n  value: s3cret\nbasicAuth:\n  username: u\n  password: p").unwrap(),
        )
        .unwrap();
        let mut n = note("m");
        n.webhook.insert(
            "receiver".into(),
            RenderedWebhook {
                method: "post".into(),
                path: "/hooks/web".into(),
                body: "{\"text\": \"m\"}".into(),
            },
        );
        let request = request(&name, &service, "", &n).unwrap();
        assert_eq!(request.method, "POST");
        assert_eq!(request.url, "http://127.0.0.1:9/hooks/web");
        assert_eq!(
            request.headers,
            vec![("X-Token".to_string(), "s3cret".to_string())]
        );
        assert_eq!(request.basic_auth, Some(("u".into(), "p".into())));
        let error = super::request("other", &service, "", &n).unwrap_err();
        assert!(error.contains("no webhook.other section"), "{error}");
        let debug = format!("{service:?}");
        assert!(
            !debug.contains("s3cret") && !debug.contains("127.0.0.1"),
            "{debug}"
        );
    }

    #[test]
    fn responses_decide_retry() {
        let api = Request {
            method: "POST".into(),
            url: String::new(),
            headers: vec![],
            basic_auth: None,
            body: String::new(),
            slack_api: true,
        };
        let hook = Request {
            slack_api: false,
            ..api.clone()
        };
        let cases = [
            (&api, 200, r#"{"ok": true}"#, Outcome::Delivered),
            (
                &api,
                200,
                r#"{"ok": false, "error": "channel_not_found"}"#,
                Outcome::Rejected("Slack answered channel_not_found".into()),
            ),
            (
                &api,
                200,
                r#"{"ok": false, "error": "ratelimited"}"#,
                Outcome::Retry("Slack answered ratelimited".into()),
            ),
            (&api, 503, "", Outcome::Retry("HTTP 503".into())),
            (&hook, 204, "", Outcome::Delivered),
            (&hook, 500, "token=abc", Outcome::Retry("HTTP 500".into())),
            (&hook, 429, "", Outcome::Retry("HTTP 429".into())),
            (&hook, 404, "", Outcome::Rejected("HTTP 404".into())),
            (&hook, 401, "", Outcome::Rejected("HTTP 401".into())),
        ];
        for (request, status, body, expected) in cases {
            assert_eq!(outcome(request, status, body), expected, "{status} {body}");
        }
    }

    #[test]
    fn urls_are_redacted_to_their_host() {
        let cases = [
            (
                "https://hooks.slack.com/services/T/B/X",
                "https://hooks.slack.com/…",
            ),
            (
                "http://user:pw@127.0.0.1:8080/x?token=1",
                "http://127.0.0.1:8080/…",
            ),
            ("not a url", "[redacted]"),
        ];
        for (url, expected) in cases {
            assert_eq!(redact_url(url), expected);
        }
    }
}
