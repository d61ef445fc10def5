//! One module per resource: each reads its request, makes its dashboard call and writes its response.

pub(crate) mod account;
pub(crate) mod alerts;
pub(crate) mod invoices;
pub(crate) mod payment_method;
pub(crate) mod platform;
pub(crate) mod spend_limit;
pub(crate) mod summary;
pub(crate) mod usage;
