//! The description's own promises: one name per schema, every API route an operation, links
//! that lead somewhere.

use std::collections::BTreeMap;

use super::*;

fn served() -> Value {
    document(&[], "registervakt")
}

/// Where each schema name comes from: the Rust types that give it, and its schema.
fn names() -> BTreeMap<String, Vec<NamedSchema>> {
    let mut by_name: BTreeMap<String, Vec<NamedSchema>> = BTreeMap::new();
    for named in named_schemas() {
        by_name
            .entry(named.name.to_string())
            .or_default()
            .push(named);
    }
    by_name
}

#[test]
fn no_two_rust_types_give_a_schema_the_same_name() {
    for (name, types) in names() {
        let rust: Vec<&str> = types.iter().map(|t| t.rust).collect();
        assert_eq!(
            rust.len(),
            1,
            "the schema name `{name}` is given by {rust:?}: rename one (utoipa keeps only one)"
        );
    }
}

/// The listed schemas by name.
fn listed() -> BTreeMap<String, Value> {
    named_schemas()
        .into_iter()
        .map(|n| (n.name.to_string(), n.schema))
        .collect()
}

/// Each reference `(whose, name, schema)` that is not to the listed type of that name.
fn strangers<'a>(refs: impl IntoIterator<Item = (String, &'a str, &'a Value)>) -> Vec<String> {
    let listed = listed();
    refs.into_iter()
        .filter_map(|(whose, name, schema)| match listed.get(name) {
            None => Some(format!(
                "{whose} refers to the schema `{name}`, which is not listed in web::api::openapi"
            )),
            Some(own) if own != schema => Some(format!(
                "{whose} means another type by `{name}` than the one listed: two Rust types \
                 share the name, and utoipa keeps one"
            )),
            Some(_) => None,
        })
        .collect()
}

#[test]
fn every_schema_an_operation_or_a_type_refers_to_is_the_listed_type_of_that_name() {
    let named = named_schemas();
    let by_operation = schemas_by_operation();
    let refs = named
        .iter()
        .flat_map(|n| {
            n.refers_to
                .iter()
                .map(|(name, s)| (n.rust.to_owned(), name.as_str(), s))
        })
        .chain(by_operation.iter().flat_map(|(operation, schemas)| {
            schemas
                .as_object()
                .into_iter()
                .flatten()
                .map(|(name, s)| (operation.clone(), name.as_str(), s))
        }));
    assert_eq!(strangers(refs), Vec::<String>::new());
    // And the document names exactly the listed schemas, so each one has a known Rust type.
    let doc = served();
    let documented: Vec<&String> = doc["components"]["schemas"]
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    assert_eq!(documented, listed().keys().collect::<Vec<_>>());
}

#[test]
fn a_second_type_of_a_taken_name_is_caught() {
    /// A stand-in for a type in another module that took a listed name, as
    /// `extracts_wire::DecisionResponse` once took `policy_api::DecisionResponse`'s.
    #[derive(utoipa::ToSchema)]
    #[schema(as = DecidedResponse)]
    #[allow(dead_code)]
    struct Impostor {
        verdict: String,
    }
    let impostor = NamedSchema::of::<Impostor>();
    assert_eq!(impostor.name, "DecidedResponse");
    let found = strangers([("Impostor".to_owned(), "DecidedResponse", &impostor.schema)]);
    assert_eq!(found.len(), 1, "{found:?}");
}

#[test]
fn every_api_route_is_an_operation_and_every_operation_is_routed() {
    let doc = served();
    let routes = crate::web::routes();
    for route in routes.iter().filter(|r| is_api_route(r)) {
        let method = route.method.as_str().to_ascii_lowercase();
        assert!(
            doc["paths"][route.path][&method].is_object(),
            "{} {} is routed but not in the API description",
            route.method,
            route.path
        );
    }
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for method in item.as_object().into_iter().flatten().map(|(m, _)| m) {
            assert!(
                routes
                    .iter()
                    .any(|r| r.path == path && r.method.as_str().eq_ignore_ascii_case(method)),
                "{method} {path} is described but not routed"
            );
        }
    }
}

#[test]
fn every_link_leaves_a_documented_response_for_an_operation_with_those_parameters() {
    let doc = served();
    for link in links::all() {
        let (method, path, status) = link.from;
        let label = format!("{method} {path} {status} → {}", link.name);
        let response = &doc["paths"][path][method]["responses"][status];
        assert!(response.is_object(), "{label}: no such response");
        let added = &response["links"][link.name];
        assert!(added.is_object(), "{label}: not in the document");
        let (to_method, to_path) = link.to;
        let target = &doc["paths"][to_path][to_method];
        assert_eq!(added["operationId"], target["operationId"], "{label}");
        for (name, expression) in link.parameters {
            let takes = target["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|p| p["name"] == *name);
            assert!(takes, "{label}: the target takes no parameter `{name}`");
            assert!(
                expression.starts_with("$response.body#/")
                    || expression.starts_with("$request.body#/")
            );
        }
        if let Some(body) = link.body {
            let body: Value = serde_json::from_str(body).unwrap();
            let properties = &target["requestBody"]["content"]["application/json"]["schema"];
            let schema = match properties["$ref"].as_str() {
                Some(r) => {
                    &doc["components"]["schemas"][r.trim_start_matches("#/components/schemas/")]
                }
                None => properties,
            };
            for key in body.as_object().unwrap().keys() {
                assert!(
                    schema["properties"][key].is_object(),
                    "{label}: the target's body has no `{key}`"
                );
            }
        }
    }
}

#[test]
fn every_operation_documents_the_errors_its_kind_of_route_can_give() {
    let doc = served();
    for route in crate::web::routes().iter().filter(|r| is_api_route(r)) {
        let op = &doc["paths"][route.path][route.method.as_str().to_ascii_lowercase()];
        let label = format!("{} {}", route.method, route.path);
        let has = |status: &str| op["responses"][status].is_object();
        if route.access != crate::web::Access::Public {
            assert!(has("401"), "{label}");
        }
        if route.method != Method::GET {
            assert!(has("403"), "{label}");
        }
        if !matches!(route.path, "/healthz" | "/readyz" | "/api/openapi.json") {
            assert!(has("500"), "{label}");
        }
        // Every error answer has the one error body.
        for (status, response) in op["responses"].as_object().unwrap() {
            if status.starts_with('4') || (status.starts_with('5') && route.path != "/readyz") {
                assert_eq!(
                    response["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ErrorBody",
                    "{label} {status}"
                );
            }
        }
    }
}
