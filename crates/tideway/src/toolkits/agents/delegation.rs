//! Picking the agent for a task: every agent of the tenant not already on the
//! task's chain is ranked by how well its capabilities, description and name match
//! the task (BM25, as `find_tools` ranks tools), and among those that fit about as
//! well as the best, the one with the most free room takes it. When every fitting
//! agent is full, the best fit takes it and the run waits in its queue.

use std::collections::HashMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tideway_core::HubError;
use utoipa::ToSchema;

use super::store::AgentVersion;
use crate::toolkits::system::find::{Terms, bm25};

/// A fit this close to the best one counts as just as good; load decides among them.
const CLOSE_FIT: f64 = 0.75;

const CAPABILITY_WEIGHT: f64 = 3.0;
const NAME_WEIGHT: f64 = 2.0;
const DESCRIPTION_WEIGHT: f64 = 1.0;

/// One agent considered for a task.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct Candidate {
    pub agent: String,
    pub score: f64,
    /// Its runs queued or running now, on every server.
    pub load: i64,
    pub max_concurrent_runs: u32,
}

/// The candidates for `task` (with `capabilities` asked for, if any), best first,
/// and the index of the one chosen.
pub fn choose(
    agents: &[AgentVersion],
    task: &str,
    capabilities: &[String],
    chain: &[String],
    load: &HashMap<String, i64>,
) -> Result<(Vec<Candidate>, usize), HubError> {
    let eligible: Vec<&AgentVersion> = agents
        .iter()
        .filter(|agent| !chain.contains(&agent.agent.name))
        .collect();
    let terms: Vec<Terms> = eligible
        .iter()
        .map(|version| {
            let agent = &version.agent;
            let capabilities = agent.capabilities.join(". ");
            Terms::of(&[
                (&capabilities, CAPABILITY_WEIGHT),
                (&agent.name, NAME_WEIGHT),
                (&agent.description, DESCRIPTION_WEIGHT),
            ])
        })
        .collect();
    let query = if capabilities.is_empty() {
        task.to_string()
    } else {
        // Asked-for capabilities say what matters most; the task adds the rest.
        format!(
            "{} {} {task}",
            capabilities.join(" "),
            capabilities.join(" ")
        )
    };
    let scores = bm25(&terms.iter().collect::<Vec<_>>(), &query);
    let mut candidates: Vec<Candidate> = eligible
        .iter()
        .zip(scores)
        .filter(|(_, score)| *score > 0.0)
        .map(|(version, score)| Candidate {
            agent: version.agent.name.clone(),
            score: (score * 1000.0).round() / 1000.0,
            load: load.get(&version.agent.name).copied().unwrap_or(0),
            max_concurrent_runs: version.agent.max_concurrent_runs,
        })
        .collect();
    candidates.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.agent.cmp(&b.agent))
    });
    let Some(best) = candidates.first().map(|c| c.score) else {
        return Err(HubError::NotFound(
            "no agent's capabilities match this task; agent_capabilities lists them".into(),
        ));
    };
    let room = |c: &Candidate| i64::from(c.max_concurrent_runs) - c.load;
    let chosen = candidates
        .iter()
        .enumerate()
        .filter(|(_, c)| c.score >= best * CLOSE_FIT && room(c) > 0)
        // Most free room first; among equals, the better fit (earlier in the list).
        .max_by(|(ia, a), (ib, b)| {
            let share = |c: &Candidate| room(c) as f64 / f64::from(c.max_concurrent_runs.max(1));
            share(a).total_cmp(&share(b)).then_with(|| ib.cmp(ia))
        })
        .map_or(0, |(index, _)| index);
    Ok((candidates, chosen))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::toolkits::agents::definition::builtin_agents;

    fn builtins() -> Vec<AgentVersion> {
        builtin_agents()
            .iter()
            .map(|agent| AgentVersion {
                version: 0,
                agent: agent.clone(),
                created_by: "tideway".into(),
            })
            .collect()
    }

    #[test]
    fn a_task_goes_to_the_agent_whose_capabilities_match() {
        let agents = builtins();
        let load = HashMap::new();
        for (task, expected) in [
            (
                "Analyze last quarter's revenue figures with SQL",
                "data_analyst",
            ),
            (
                "Answer the customer's ticket about a late refund",
                "customer_success",
            ),
            (
                "Write a proposal email for the new customer",
                "content_creator",
            ),
            (
                "Set up a cron schedule and a webhook",
                "automation_specialist",
            ),
            (
                "Check system health and the open alerts",
                "operations_manager",
            ),
        ] {
            let (candidates, chosen) = choose(&agents, task, &[], &[], &load).expect(task);
            assert_eq!(candidates[chosen].agent, expected, "{task}: {candidates:?}");
        }
        let error = choose(&agents, "zzz qqq", &[], &[], &load).expect_err("nothing fits");
        assert!(error.to_string().contains("agent_capabilities"), "{error}");
    }

    #[test]
    fn a_full_agent_passes_the_task_to_one_that_fits_as_well_or_queues_it() {
        let mut agents = builtins();
        // A second analyst as good a fit as the first.
        let mut twin = agents[0].clone();
        twin.agent.name = "data_analyst_2".into();
        agents.push(twin);
        let task = "Analyze revenue figures with SQL queries";
        let mut load = HashMap::from([("data_analyst".to_string(), 4)]);
        let (candidates, chosen) = choose(&agents, task, &[], &[], &load).expect("fits");
        assert_eq!(candidates[chosen].agent, "data_analyst_2", "{candidates:?}");
        // Both full: the best fit takes it, to wait in its queue.
        load.insert("data_analyst_2".into(), 4);
        let (candidates, chosen) = choose(&agents, task, &[], &[], &load).expect("fits");
        assert_eq!(chosen, 0, "{candidates:?}");
        // An agent on the chain is never chosen.
        let chain = vec!["data_analyst".to_string(), "data_analyst_2".to_string()];
        let (candidates, chosen) =
            choose(&agents, task, &[], &chain, &HashMap::new()).expect("fits");
        assert!(!chain.contains(&candidates[chosen].agent), "{candidates:?}");
    }
}
