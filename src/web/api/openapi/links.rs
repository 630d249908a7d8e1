//! OpenAPI links (3.1 §4.8.20): from an operation whose answer holds an id to the operations
//! that take it, so a client can follow them — and so the API fuzzer's stateful phase
//! (SECURITY_BAR G1) reaches an extract that exists, in every state it can be in, instead of a
//! random id's 404.
//!
//! They are kept here, in one table, rather than in each handler's annotation: a link joins
//! two handlers, often of two files, and the table shows the whole graph at once. A link whose
//! source response or target operation is missing is left out of the document, and a test
//! (`openapi/tests.rs`) fails on it, so a renamed operation or a changed status is noticed.

use serde_json::{Map, Value, json};

/// One link.
pub struct Link {
    /// The operation that answers, and the status of the answer that holds the value.
    pub from: (&'static str, &'static str, &'static str),
    /// The link's name in that response's `links`.
    pub name: &'static str,
    /// The operation that takes the value.
    pub to: (&'static str, &'static str),
    /// The target's parameters and the runtime expression (§4.8.20.4) that gives each.
    pub parameters: Vec<(&'static str, &'static str)>,
    /// A request body for the target, as JSON with runtime expressions as string values.
    pub body: Option<&'static str>,
}

const EXTRACT_ID: &[(&str, &str)] = &[("id", "$response.body#/id")];

/// Every operation that takes an extract id in its path: name, method, path, body.
const BY_EXTRACT_ID: &[(&str, &str, &str, Option<&str>)] = &[
    ("show", "get", "/api/v1/extracts/{id}", None),
    (
        "approve",
        "post",
        "/api/v1/extracts/{id}/approve",
        Some(r#"{"request_hash": "$response.body#/request_hash"}"#),
    ),
    ("deny", "post", "/api/v1/extracts/{id}/deny", None),
    ("download", "post", "/api/v1/extracts/{id}/download", None),
    ("view", "post", "/api/v1/extracts/{id}/view", None),
    ("done", "post", "/api/v1/extracts/{id}/done", None),
    (
        "attest_deleted",
        "post",
        "/api/v1/extracts/{id}/attest-deleted",
        None,
    ),
    ("revoke", "post", "/api/v1/extracts/{id}/revoke", None),
    ("story", "get", "/api/v1/audit/extracts/{id}", None),
];

/// The operations that answer with one extract (its `id` and `request_hash` at the top).
const ONE_EXTRACT: &[(&str, &str, &str)] = &[
    ("post", "/api/v1/extracts", "201"),
    ("get", "/api/v1/extracts/{id}", "200"),
];

/// The user operations that take a username: name, method, path.
const BY_USERNAME: &[(&str, &str, &str)] = &[
    ("disable", "post", "/api/v1/users/{username}/disable"),
    ("enable", "post", "/api/v1/users/{username}/enable"),
    (
        "reset_second_factor",
        "post",
        "/api/v1/users/{username}/reset-2fa",
    ),
    ("change_role", "post", "/api/v1/users/{username}/roles"),
];

/// What one administrator proposes and a second decides: where it is proposed, where the
/// pending ones are listed, the confirm and reject operations, and where the answer to the
/// proposal holds the id.
const PROPOSALS: &[(&str, &str, &str, &str, &str)] = &[
    (
        "/api/v1/users",
        "/api/v1/user-proposals",
        "/api/v1/user-proposals/{id}/confirm",
        "/api/v1/user-proposals/{id}/reject",
        "$response.body#/proposal_id",
    ),
    (
        "/api/v1/users/{username}/roles",
        "/api/v1/role-changes",
        "/api/v1/role-changes/{id}/confirm",
        "/api/v1/role-changes/{id}/reject",
        "$response.body#/request_id",
    ),
    (
        "/api/v1/policy/proposals",
        "/api/v1/policy/proposals",
        "/api/v1/policy/proposals/{id}/confirm",
        "/api/v1/policy/proposals/{id}/reject",
        "$response.body#/proposal_id",
    ),
];

/// The whole table.
pub fn all() -> Vec<Link> {
    let mut links = Vec::new();
    for from in ONE_EXTRACT {
        for (name, method, path, body) in BY_EXTRACT_ID {
            links.push(Link {
                from: *from,
                name,
                to: (method, path),
                parameters: EXTRACT_ID.to_vec(),
                body: *body,
            });
        }
        links.push(Link {
            from: *from,
            name: "breach_scope",
            to: ("get", "/api/v1/audit/breach-scope"),
            parameters: vec![("extract", "$response.body#/id")],
            body: None,
        });
    }
    links.push(Link {
        from: ("get", "/api/v1/extracts", "200"),
        name: "show_first",
        to: ("get", "/api/v1/extracts/{id}"),
        parameters: vec![("id", "$response.body#/extracts/0/id")],
        body: None,
    });
    links.push(Link {
        from: ("get", "/api/v1/notices", "200"),
        name: "read_first",
        to: ("post", "/api/v1/notices/{id}/read"),
        parameters: vec![("id", "$response.body#/notices/0/id")],
        body: None,
    });
    links.push(Link {
        from: ("get", "/api/v1/audit/flags", "200"),
        name: "acknowledge_first",
        to: ("post", "/api/v1/audit/flags/{id}/acknowledge"),
        parameters: vec![("id", "$response.body#/flags/0/id")],
        body: None,
    });
    // A proposal and what a second administrator does with it: the fuzzer tries both, and as
    // the proposer it must be refused.
    for (propose, list, confirm, reject, id) in PROPOSALS {
        for (name, first, to) in [
            ("confirm", "confirm_first", confirm),
            ("reject", "reject_first", reject),
        ] {
            links.push(Link {
                from: ("post", propose, "202"),
                name,
                to: ("post", to),
                parameters: vec![("id", *id)],
                body: None,
            });
            links.push(Link {
                from: ("get", list, "200"),
                name: first,
                to: ("post", to),
                parameters: vec![("id", "$response.body#/0/id")],
                body: None,
            });
        }
    }
    // From the account a second administrator just confirmed, never from the list of users:
    // a fuzzer following the list would disable the account it runs as.
    for (name, method, path) in BY_USERNAME {
        links.push(Link {
            from: ("post", "/api/v1/user-proposals/{id}/confirm", "201"),
            name,
            to: (method, path),
            parameters: vec![("username", "$response.body#/username")],
            body: None,
        });
    }
    links
}

/// The target operation's `operationId`, if the document has that operation.
fn operation_id(doc: &Value, (method, path): (&str, &str)) -> Option<String> {
    doc["paths"][path][method]["operationId"]
        .as_str()
        .map(str::to_owned)
}

/// Adds every link whose source response and target operation are in `doc`.
pub fn add(doc: &mut Value) {
    for link in all() {
        let Some(target) = operation_id(doc, link.to) else {
            continue;
        };
        let (method, path, status) = link.from;
        let Some(response) = doc["paths"][path][method]["responses"]
            .get_mut(status)
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        let parameters: Map<String, Value> = link
            .parameters
            .iter()
            .map(|(name, expression)| ((*name).to_owned(), json!(expression)))
            .collect();
        let mut value = json!({ "operationId": target, "parameters": parameters });
        if let Some(body) = link
            .body
            .and_then(|b| serde_json::from_str::<Value>(b).ok())
        {
            value["requestBody"] = body;
        }
        let links = response
            .entry("links")
            .or_insert_with(|| Value::Object(Map::new()));
        links[link.name] = value;
    }
}
