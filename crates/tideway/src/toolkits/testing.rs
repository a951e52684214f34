//! What the toolkits' tests share: the context of a call made by a tenant's user in
//! a role, as the faces build it.

use tideway_core::{
    CallContext, Principal, TenantId,
    context::{Credential, Role},
};

/// A call by `tenant`'s user `<tenant>-<role>`.
pub fn ctx(tenant: &str, role: Role) -> CallContext {
    CallContext::new(
        TenantId::new(tenant),
        Principal::new(format!("{tenant}-{role}"), role, Credential::Local),
        "test",
    )
}

/// Brings `store` to the current schema of every toolkit and adds `tenants`.
pub async fn prepare_store(store: &tideway_core::Store, tenants: &[&str]) {
    store.migrate(&super::migrations()).await.expect("migrate");
    for tenant in tenants {
        store
            .ensure_tenant(&TenantId::new(*tenant), tenant)
            .await
            .expect("tenant");
    }
}
