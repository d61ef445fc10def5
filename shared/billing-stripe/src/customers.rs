//! Customers: creating one per account, its default payment method, and the hosted pages
//! (Checkout in setup mode, the billing portal) where its owner manages cards.

use std::collections::HashMap;

use billing_app::ids::AccountId;
use billing_app::payments::{CardSummary, CustomerView, DefaultMethod, PaymentsError};
use billing_rules::Currency;
use stripe_billing::billing_portal_session::CreateBillingPortalSession;
use stripe_checkout::checkout_session::CreateCheckoutSession;
use stripe_core::customer::{
    CreateCustomer, RetrieveCustomer, RetrieveCustomerReturned, UpdateCustomer,
    UpdateCustomerInvoiceSettings,
};
use stripe_core::setup_intent::RetrieveSetupIntent;
use stripe_shared::CheckoutSessionMode;

use crate::client::payments_error;
use crate::invoices::stripe_currency;
use crate::StripePayments;

fn card_of(method: &stripe_shared::PaymentMethod) -> DefaultMethod {
    DefaultMethod {
        id: method.id.as_str().to_owned(),
        card: method.card.as_ref().map(|c| CardSummary {
            brand: c.brand.clone(),
            last4: c.last4.clone(),
            exp_month: u32::try_from(c.exp_month).unwrap_or_default(),
            exp_year: u32::try_from(c.exp_year).unwrap_or_default(),
        }),
    }
}

pub(crate) async fn create(
    stripe: &StripePayments,
    account: &AccountId,
) -> Result<String, PaymentsError> {
    let request = CreateCustomer::new()
        .description(format!("billing account {account}"))
        .metadata(HashMap::from([(
            "account".to_owned(),
            account.as_str().to_owned(),
        )]));
    let customer = stripe
        .call(&request, Some(format!("customer:{account}")))
        .await
        .map_err(payments_error)?;
    Ok(customer.id.as_str().to_owned())
}

pub(crate) async fn checkout_setup_url(
    stripe: &StripePayments,
    customer: &str,
    currency: Currency,
    return_url: &str,
) -> Result<String, PaymentsError> {
    let request = CreateCheckoutSession::new()
        .mode(CheckoutSessionMode::Setup)
        .customer(customer)
        .currency(stripe_currency(currency)?)
        .success_url(format!("{return_url}?payment_method=updated"))
        .cancel_url(return_url);
    let session = stripe.call(&request, None).await.map_err(payments_error)?;
    session
        .url
        .ok_or_else(|| PaymentsError::Refused("Checkout returned no URL".into()))
}

pub(crate) async fn portal_url(
    stripe: &StripePayments,
    customer: &str,
    return_url: &str,
) -> Result<String, PaymentsError> {
    let request = CreateBillingPortalSession::new()
        .customer(customer)
        .return_url(return_url);
    Ok(stripe
        .call(&request, None)
        .await
        .map_err(payments_error)?
        .url)
}

pub(crate) async fn set_default_method(
    stripe: &StripePayments,
    customer: &str,
    method: &str,
) -> Result<(), PaymentsError> {
    let mut settings = UpdateCustomerInvoiceSettings::new();
    settings.default_payment_method = Some(method.to_owned());
    let request = UpdateCustomer::new(customer).invoice_settings(settings);
    stripe
        .call(&request, Some(format!("default:{customer}:{method}")))
        .await
        .map_err(payments_error)?;
    Ok(())
}

pub(crate) async fn retrieve(
    stripe: &StripePayments,
    customer: &str,
) -> Result<CustomerView, PaymentsError> {
    let request = RetrieveCustomer::new(customer)
        .expand(vec!["invoice_settings.default_payment_method".to_owned()]);
    match stripe.call(&request, None).await.map_err(payments_error)? {
        RetrieveCustomerReturned::Customer(c) => Ok(CustomerView {
            account: c
                .metadata
                .as_ref()
                .and_then(|m| m.get("account"))
                .and_then(|a| AccountId::parse(a).ok()),
            default_method: c
                .invoice_settings
                .as_ref()
                .and_then(|s| s.default_payment_method.as_ref())
                .map(|m| match m {
                    stripe_types::Expandable::Object(pm) => card_of(pm),
                    stripe_types::Expandable::Id(id) => DefaultMethod {
                        id: id.as_str().to_owned(),
                        card: None,
                    },
                }),
        }),
        RetrieveCustomerReturned::DeletedCustomer(_) => Ok(CustomerView {
            account: None,
            default_method: None,
        }),
    }
}

pub(crate) async fn setup_intent(
    stripe: &StripePayments,
    id: &str,
) -> Result<(Option<String>, Option<String>), PaymentsError> {
    let intent = stripe
        .call(&RetrieveSetupIntent::new(id), None)
        .await
        .map_err(payments_error)?;
    Ok((
        intent.customer.map(|c| c.id().as_str().to_owned()),
        intent.payment_method.map(|m| m.id().as_str().to_owned()),
    ))
}
