//! The models toolkit against local servers speaking the providers' HTTP APIs.

mod choices;
mod providers;
