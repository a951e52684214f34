//! Input-required results, the 2026-07-28 way for a call to ask its client for
//! sampling, elicitation or roots. A request of that era has no stream back to the
//! client, so a call that asks for something not yet answered ends with the
//! requests it made, and the client answers them on its next call, which runs the
//! call again with the answers. A 2025-11-25 session asks on its stream instead
//! (`channel.rs`).
//!
//! Between rounds the server keeps nothing: the answers of earlier rounds travel in
//! the request state, which is signed (HMAC-SHA256) under a key derived from the
//! master key, so every replica opens what another sealed. A state is bound to the
//! caller (tenant and principal), the endpoint, the request (method, name, and a
//! digest of the arguments) and a deadline: one that was altered, minted for
//! another caller or another request, or has expired is refused. The state carries
//! only answers the client itself gave, so signing keeps a state from being moved,
//! not secrets from the client.

use std::{collections::BTreeMap, time::Duration};

use rmcp::{
    ErrorData,
    model::{
        ClientCapabilities, InputRequest, InputRequests, InputRequiredResult, InputResponses,
        RequestStateCodec, SealOptions,
    },
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tideway_core::{
    HubError, Scope,
    error::{excerpt, excerpt_value},
    input::Answerable,
    mcp::JsonObject,
    secrets::MasterKey,
};

use crate::auth::Caller;

/// How long a client has to answer. Long enough for a person to fill in an
/// elicitation form, short enough that a leaked state soon stops working.
const STATE_TTL: Duration = Duration::from_secs(30 * 60);

/// What the master key derives the signing key for.
const KEY_PURPOSE: &str = "mcp request state";

/// Signs and opens request states.
pub struct RequestStates {
    codec: RequestStateCodec,
}

impl RequestStates {
    pub fn new(master_key: &MasterKey) -> Self {
        let key = master_key.derive(KEY_PURPOSE);
        // A derived key is always 32 bytes, the length the codec asks for.
        RequestStates {
            codec: RequestStateCodec::new_unchecked(key.to_vec()),
        }
    }

    fn seal(&self, carried: &Carried, binding: &Binding) -> Result<String, ErrorData> {
        self.codec
            .seal_json_with(
                carried,
                &SealOptions::new()
                    .associated_data(&binding.0)
                    .ttl(STATE_TTL),
            )
            .map_err(|error| ErrorData::internal_error(error.to_string(), None))
    }

    fn open(&self, state: &str, binding: &Binding) -> Result<Carried, ErrorData> {
        self.codec
            .open_json_with(state, &binding.0)
            .map_err(|error| {
                // One answer for every failure, as the protocol asks; the reason is
                // for the log only.
                tracing::debug!(%error, "refused a request state");
                ErrorData::invalid_params(
                    "requestState is not one this server issued for this caller and this request, or it has expired; call again without requestState and inputResponses",
                    Some(json!({"field": "requestState"})),
                )
            })
    }
}

/// What a request state carries from one round to the next.
#[derive(Default, Serialize, Deserialize)]
struct Carried {
    answers: BTreeMap<String, Value>,
}

/// What a request state is bound to: who asked, where, and for what.
pub struct Binding(Vec<u8>);

impl Binding {
    pub fn new(
        caller: &Caller,
        scope: &Scope,
        method: &str,
        name: &str,
        arguments: Option<&JsonObject>,
    ) -> Self {
        let endpoint = match scope {
            Scope::All => "/mcp".to_string(),
            Scope::Toolkit(name) | Scope::View(name) => format!("/mcp/{name}"),
        };
        let arguments = arguments
            .map(|arguments| serde_json::to_vec(arguments).unwrap_or_default())
            .unwrap_or_default();
        let digest = hex(&Sha256::digest(&arguments));
        // A JSON array, so no field's text can run into the next one's.
        let bound = json!([
            caller.tenant.as_str(),
            caller.principal.id,
            endpoint,
            method,
            name,
            digest
        ]);
        Binding(bound.to_string().into_bytes())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// What a client's declared capabilities let it answer.
pub fn answerable(capabilities: Option<&ClientCapabilities>) -> Answerable {
    capabilities.map_or_else(Answerable::default, |declared| Answerable {
        sampling: declared.sampling.is_some(),
        elicitation: declared.elicitation.is_some(),
        roots: declared.roots.is_some(),
    })
}

/// One round of a 2026-07-28 call that may ask its client for input: the answers
/// it came with, what it asked, and what the next round's state is bound to.
pub struct InputRound {
    round: tideway_core::input::InputRound,
    /// Taken only when the call could need it: a client that declares none of
    /// sampling, elicitation and roots is never asked, and most calls ask nothing.
    binding: Option<Binding>,
}

impl InputRound {
    /// The round a request starts: the answers of earlier rounds from its state
    /// (checked against `binding`) and this round's answers.
    pub fn open(
        states: &RequestStates,
        binding: impl FnOnce() -> Binding,
        state: Option<&str>,
        responses: Option<InputResponses>,
        capabilities: Option<ClientCapabilities>,
    ) -> Result<Self, ErrorData> {
        let answerable = answerable(capabilities.as_ref());
        let binding = (answerable.any() || state.is_some()).then(binding);
        let mut answers = match (state, &binding) {
            (Some(state), Some(binding)) => states.open(state, binding)?.answers,
            _ => BTreeMap::new(),
        };
        for (key, answer) in responses.unwrap_or_default() {
            if !answer.is_object() {
                return Err(ErrorData::invalid_params(
                    format!(
                        "inputResponses.{}: an answer must be an object (the client's result for the request of that key), not '{}'",
                        excerpt(&key),
                        excerpt_value(&answer)
                    ),
                    Some(json!({"field": format!("inputResponses.{}", excerpt(&key))})),
                ));
            }
            answers.insert(key, answer);
        }
        Ok(InputRound {
            round: tideway_core::input::InputRound::new(answers, answerable),
            binding,
        })
    }

    pub fn can_answer(&self, method: &str) -> bool {
        self.round.can_answer(method)
    }

    pub fn ask(
        &self,
        key: Option<&str>,
        method: &str,
        params: JsonObject,
    ) -> Result<Value, HubError> {
        self.round.ask(key, method, params)
    }

    /// The capability the call asked for that the client had not declared.
    pub fn missing_capability(&self) -> Option<&'static str> {
        self.round.missing_capability()
    }

    /// The result that asks the client for what the call could not do without:
    /// `None` when the call asked for nothing unanswered.
    pub fn input_required(
        &self,
        states: &RequestStates,
    ) -> Result<Option<InputRequiredResult>, ErrorData> {
        let pending = self.round.pending();
        // Nothing is pending without a declared capability, and so without a binding.
        let Some(binding) = self.binding.as_ref().filter(|_| !pending.is_empty()) else {
            return Ok(None);
        };
        let mut requests = InputRequests::new();
        for (key, request) in pending {
            let request: InputRequest = serde_json::from_value(request).map_err(|error| {
                ErrorData::internal_error(
                    format!("input request '{key}' is malformed: {error}"),
                    None,
                )
            })?;
            requests.insert(key, request);
        }
        let carried = Carried {
            answers: self.round.read(),
        };
        let state = states.seal(&carried, binding)?;
        Ok(Some(InputRequiredResult::new(Some(requests), Some(state))))
    }
}

#[cfg(test)]
mod tests {
    use tideway_core::{Credential, Principal, Role, TenantId};

    use super::*;

    fn new_states() -> RequestStates {
        let key = MasterKey::generate().expect("random").0;
        RequestStates::new(&key)
    }

    fn caller(principal: &str) -> Caller {
        Caller {
            tenant: TenantId::new("acme"),
            principal: Principal::new(principal, Role::Operator, Credential::ApiKey),
        }
    }

    fn binding(principal: &str, arguments: Value) -> Binding {
        let arguments = arguments.as_object().cloned();
        Binding::new(
            &caller(principal),
            &Scope::All,
            "tools/call",
            "demo_tool",
            arguments.as_ref(),
        )
    }

    fn everything() -> Option<ClientCapabilities> {
        serde_json::from_value(json!({"sampling": {}, "elicitation": {}, "roots": {}})).ok()
    }

    fn question() -> JsonObject {
        json!({"message": "Your name?", "requestedSchema": {"type": "object", "properties": {"name": {"type": "string"}}}})
            .as_object()
            .cloned()
            .unwrap_or_default()
    }

    fn responses(value: Value) -> Option<InputResponses> {
        serde_json::from_value(value).ok()
    }

    fn alice() -> Binding {
        binding("alice", json!({"n": 1}))
    }

    fn input_keys(result: &InputRequiredResult) -> Vec<String> {
        result
            .input_requests
            .as_ref()
            .map(|requests| requests.keys().cloned().collect())
            .unwrap_or_default()
    }

    #[test]
    fn answers_carry_from_round_to_round_and_only_to_the_same_request() {
        let states = new_states();
        let first = InputRound::open(&states, alice, None, None, everything()).expect("round 1");
        let asked = first.ask(Some("name"), "elicitation/create", question());
        assert!(matches!(asked, Err(HubError::InputRequired { ref key, .. }) if key == "name"));
        let result = first
            .input_required(&states)
            .expect("seal")
            .expect("input required");
        assert_eq!(input_keys(&result), vec!["name"]);
        let state = result.request_state.clone().expect("state");

        // Round 2 answers the name; the call then asks a second question.
        let answer = responses(json!({"name": {"action": "accept", "content": {"name": "Ada"}}}));
        let second =
            InputRound::open(&states, alice, Some(&state), answer, everything()).expect("round 2");
        let name = second
            .ask(Some("name"), "elicitation/create", question())
            .expect("answered");
        assert_eq!(name["content"]["name"], "Ada");
        assert!(second.ask(None, "roots/list", JsonObject::new()).is_err());
        let again = second
            .input_required(&states)
            .expect("seal")
            .expect("input required");
        assert_eq!(input_keys(&again), vec!["roots-1"]);
        let state = again.request_state.expect("state");

        // Round 3: the name comes from the state, the roots from this round.
        let roots = responses(json!({"roots-1": {"roots": []}}));
        let third =
            InputRound::open(&states, alice, Some(&state), roots, everything()).expect("round 3");
        let carried = third
            .ask(Some("name"), "elicitation/create", question())
            .expect("carried");
        assert_eq!(carried["content"]["name"], "Ada");
        assert!(third.ask(None, "roots/list", JsonObject::new()).is_ok());
        assert!(third.input_required(&states).expect("seal").is_none());

        // The state opens for no other caller, no other arguments, and not altered.
        let mallory = || binding("mallory", json!({"n": 1}));
        let other_arguments = || binding("alice", json!({"n": 2}));
        assert!(InputRound::open(&states, mallory, Some(&state), None, everything()).is_err());
        assert!(
            InputRound::open(&states, other_arguments, Some(&state), None, everything()).is_err()
        );
        let tampered = format!("{state}-TAMPERED");
        let refused = InputRound::open(&states, alice, Some(&tampered), None, everything());
        assert!(matches!(refused, Err(error) if error.message.contains("requestState")));
        // Nor under another master key.
        let elsewhere = new_states();
        assert!(InputRound::open(&elsewhere, alice, Some(&state), None, everything()).is_err());
    }

    #[test]
    fn only_declared_capabilities_are_asked_and_answers_must_be_objects() {
        let states = new_states();
        let sampling_only: Option<ClientCapabilities> =
            serde_json::from_value(json!({"sampling": {}})).ok();
        let round = InputRound::open(&states, alice, None, None, sampling_only).expect("round");
        assert!(!round.can_answer("elicitation/create"));
        assert!(round.can_answer("sampling/createMessage"));
        assert!(
            round
                .ask(Some("name"), "elicitation/create", question())
                .is_err()
        );
        assert!(round.input_required(&states).expect("seal").is_none());

        // A client that declares nothing is never asked.
        let silent = InputRound::open(&states, alice, None, None, None).expect("round");
        assert!(
            silent
                .ask(None, "sampling/createMessage", JsonObject::new())
                .is_err()
        );
        assert!(silent.input_required(&states).expect("seal").is_none());

        let refused = InputRound::open(
            &states,
            alice,
            None,
            responses(json!({"user_name": 12345})),
            everything(),
        );
        assert!(
            matches!(refused, Err(error) if error.message.contains("inputResponses.user_name"))
        );
    }
}
