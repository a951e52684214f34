//! Which series a tenant may see. Host and process figures and the `all` figures are
//! the server's; a component or tool series belongs to its toolkit, and a toolkit a
//! tenant owns (its own federated server) is seen by that tenant alone, in reports
//! and by its alert rules alike; so is a toolkit's part (a tenant's source or
//! cluster), whose tenant its name carries. A series whose toolkit is gone is the
//! operator's.

use std::collections::HashMap;

use tideway_core::{Hub, TenantId};

use super::{calls, components};

pub struct Visibility {
    /// Each registered toolkit's owner (`None`: every tenant's).
    owners: HashMap<String, Option<TenantId>>,
    default_tenant: TenantId,
}

impl Visibility {
    pub fn of(hub: &Hub, default_tenant: &TenantId) -> Self {
        Visibility {
            owners: hub
                .entries()
                .iter()
                .map(|entry| (entry.name().to_string(), entry.owner.clone()))
                .collect(),
            default_tenant: default_tenant.clone(),
        }
    }

    /// Whether `tenant` may see `metric` of `subject`.
    pub fn sees(&self, tenant: &TenantId, metric: &str, subject: &str) -> bool {
        let toolkit = if metric.starts_with("component.") {
            if subject == components::STORE {
                return true;
            }
            match components::owner_of(subject) {
                (_, Some(part_tenant)) if part_tenant != tenant.as_str() => return false,
                (toolkit, _) => toolkit,
            }
        } else if metric.starts_with("tool.") {
            if subject == calls::ALL {
                return true;
            }
            subject.split('/').next().unwrap_or(subject)
        } else {
            return true;
        };
        match self.owners.get(toolkit) {
            Some(owner) => owner.as_ref().is_none_or(|owner| owner == tenant),
            None => *tenant == self.default_tenant,
        }
    }
}
