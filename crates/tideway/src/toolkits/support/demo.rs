//! Demo data for `tideway serve --demo`: a realistic, deterministic help desk, so a
//! first run has something to show. Customers across tiers, tickets over the last 90
//! days across statuses (with history, comments, interactions and response times),
//! and knowledge articles with real help-desk content. The same seed gives the same
//! desk every time; loading twice changes nothing (one transaction, skipped when the
//! first demo customer already exists).

use chrono::{DateTime, Duration, SubsecRound, Utc};
use serde_json::{Map, Value, json};
use sqlx::types::Json;
use tideway_core::{HubError, Store, TenantId, on_store};

use super::model::{Channel, Priority, TicketStatus, Tier, sla_target};

pub const CUSTOMERS: usize = 300;
/// Fixed, so every load produces the same desk.
const SEED: u64 = 0x7D3E_5EED;
pub const TICKETS: usize = 3000;

/// What a load did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoSummary {
    pub loaded: bool,
    pub customers: usize,
    pub tickets: usize,
    pub articles: usize,
}

/// A small, fast, deterministic generator (SplitMix64); demo data needs
/// repeatability, not cryptographic quality.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// A value in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

const FIRST_NAMES: &[&str] = &[
    "Ada",
    "Grace",
    "Alan",
    "Katherine",
    "Linus",
    "Margaret",
    "Dennis",
    "Barbara",
    "Ken",
    "Frances",
    "Edsger",
    "Radia",
    "Tim",
    "Hedy",
    "Donald",
    "Shafi",
    "John",
    "Lynn",
    "Vint",
    "Sophie",
    "Niklaus",
    "Jean",
    "Bjarne",
    "Anita",
    "Guido",
    "Mary",
    "James",
    "Adele",
    "Leslie",
    "Carol",
    "Yukihiro",
    "Joan",
    "Brian",
    "Evelyn",
    "Rob",
    "Annie",
    "Larry",
    "Susan",
    "Ward",
    "Ruth",
];

const LAST_NAMES: &[&str] = &[
    "Lovelace",
    "Hopper",
    "Turing",
    "Johnson",
    "Torvalds",
    "Hamilton",
    "Ritchie",
    "Liskov",
    "Thompson",
    "Allen",
    "Dijkstra",
    "Perlman",
    "Berners-Lee",
    "Lamarr",
    "Knuth",
    "Goldwasser",
    "McCarthy",
    "Conway",
    "Cerf",
    "Wilson",
    "Wirth",
    "Bartik",
    "Stroustrup",
    "Borg",
    "van Rossum",
    "Keller",
    "Gosling",
    "Goldberg",
    "Lamport",
    "Shaw",
    "Matsumoto",
    "Clarke",
    "Kernighan",
    "Berezin",
    "Pike",
    "Easley",
    "Page",
    "Kare",
    "Cunningham",
    "Teitelbaum",
];

const COMPANIES: &[(&str, &str)] = &[
    ("Northwind Traders", "northwind.example"),
    ("Contoso Pharmaceuticals", "contoso.example"),
    ("Fabrikam Logistics", "fabrikam.example"),
    ("Tailspin Toys", "tailspin.example"),
    ("Wingtip Travel", "wingtip.example"),
    ("Adventure Works Cycles", "adventureworks.example"),
    ("Litware Software", "litware.example"),
    ("Proseware Publishing", "proseware.example"),
    ("Lucerne Bank", "lucerne.example"),
    ("Alpine Ski House", "alpineski.example"),
    ("Coho Winery", "coho.example"),
    ("Fourth Coffee", "fourthcoffee.example"),
    ("Graphic Design Institute", "gdi.example"),
    ("Humongous Insurance", "humongous.example"),
    ("Margie's Travel", "margies.example"),
    ("Trey Research", "treyresearch.example"),
    ("Blue Yonder Airlines", "blueyonder.example"),
    ("City Power & Light", "citypower.example"),
    ("Woodgrove Health", "woodgrove.example"),
    ("Relecloud Media", "relecloud.example"),
];

/// A help-desk topic: what tickets about it say and what the articles about it teach.
struct Topic {
    category: &'static str,
    name: &'static str,
    tags: &'static [&'static str],
    subjects: &'static [&'static str],
    complaint: &'static str,
    steps: &'static [&'static str],
    causes: &'static [(&'static str, &'static str)],
    practice: &'static [&'static str],
}

const TOPICS: &[Topic] = &[
    Topic {
        category: "account",
        name: "password reset",
        tags: &["password", "login"],
        subjects: &[
            "Cannot reset my password",
            "Password reset email never arrives",
            "Reset link says it expired",
        ],
        complaint: "I asked for a password reset three times and nothing came. I need to get into my account today.",
        steps: &[
            "Open the sign-in page and choose **Forgot password**.",
            "Enter the email address of your account and press **Send link**.",
            "Open the email within 30 minutes and follow the link.",
            "Choose a new password of at least 12 characters and sign in again.",
        ],
        causes: &[
            (
                "The email went to the spam folder",
                "Search your spam or junk folder for mail from our support address and mark it as not spam.",
            ),
            (
                "The link expired",
                "Reset links are valid for 30 minutes; request a new one and use the latest email only.",
            ),
            (
                "The account uses single sign-on",
                "Accounts managed by your company's identity provider reset passwords there, not here.",
            ),
        ],
        practice: &[
            "Use a password manager rather than reusing passwords.",
            "Turn on two-factor authentication after resetting.",
            "Ask an administrator to check the account is not locked if resets keep failing.",
        ],
    },
    Topic {
        category: "account",
        name: "two-factor authentication",
        tags: &["2fa", "security", "login"],
        subjects: &[
            "Lost my phone with the authenticator app",
            "2FA codes are rejected",
            "How do I turn on two-factor authentication?",
        ],
        complaint: "My authenticator codes are always rejected, even right after they appear.",
        steps: &[
            "Go to **Settings > Security**.",
            "Choose **Enable two-factor authentication**.",
            "Scan the QR code with an authenticator app and enter the six-digit code.",
            "Store the recovery codes somewhere safe; each works once.",
        ],
        causes: &[
            (
                "The phone clock is wrong",
                "Codes depend on time; turn on automatic time on the phone and try again.",
            ),
            (
                "The wrong account entry is used",
                "Authenticator apps can hold several entries; check the one named after this service and your email.",
            ),
            (
                "The phone was replaced",
                "Sign in with a recovery code, then set up two-factor authentication again on the new phone.",
            ),
        ],
        practice: &[
            "Keep recovery codes offline.",
            "Register a second device where possible.",
            "Administrators can require two-factor authentication for everyone in the organisation.",
        ],
    },
    Topic {
        category: "account",
        name: "single sign-on",
        tags: &["sso", "saml", "login"],
        subjects: &[
            "SSO login loops back to the sign-in page",
            "SAML assertion rejected",
            "Set up single sign-on with Okta",
        ],
        complaint: "Since this morning our whole team is stuck in a login loop with SSO.",
        steps: &[
            "In **Admin > Authentication**, choose **SAML 2.0**.",
            "Copy our entity ID and reply URL into your identity provider.",
            "Upload the identity provider's metadata XML here.",
            "Test with one user before enforcing SSO for everyone.",
        ],
        causes: &[
            (
                "The signing certificate was rotated",
                "Upload the identity provider's new metadata; the old certificate no longer verifies.",
            ),
            (
                "The clocks differ",
                "Assertions are valid for five minutes; make sure the identity provider's clock is synchronised.",
            ),
            (
                "The email attribute is missing",
                "Map the user's email to the NameID or an `email` attribute.",
            ),
        ],
        practice: &[
            "Keep one administrator able to sign in with a password as a break-glass account.",
            "Rotate certificates before they expire and upload the new metadata first.",
            "Provision users with SCIM so leavers lose access at once.",
        ],
    },
    Topic {
        category: "billing",
        name: "invoices",
        tags: &["invoice", "billing"],
        subjects: &[
            "Need a copy of last month's invoice",
            "Invoice shows the wrong company name",
            "VAT number missing on invoice",
        ],
        complaint: "Our finance team needs the invoice with our VAT number on it, the current one is missing it.",
        steps: &[
            "Open **Billing > Invoices**.",
            "Find the month and choose **Download PDF**.",
            "To change the billing name, address or VAT number, edit **Billing details**; new invoices use the new details.",
            "Ask support to reissue a past invoice with corrected details.",
        ],
        causes: &[
            (
                "Billing details were added after the invoice was issued",
                "Past invoices keep the details of their date; ask support to reissue them.",
            ),
            (
                "The invoice went to a former employee",
                "Change the billing contact in **Billing details**.",
            ),
            (
                "Several workspaces are billed separately",
                "Each workspace has its own invoices; switch workspace first.",
            ),
        ],
        practice: &[
            "Set a shared finance mailbox as billing contact.",
            "Add the VAT number before the first payment.",
            "Download invoices monthly for your records.",
        ],
    },
    Topic {
        category: "billing",
        name: "refunds",
        tags: &["refund", "billing"],
        subjects: &[
            "Charged twice this month",
            "Requesting a refund for unused seats",
            "Refund not received yet",
        ],
        complaint: "We were charged twice for the same month. Please refund the duplicate payment.",
        steps: &[
            "Check **Billing > Payments** for the two charges and their dates.",
            "Open a ticket with the payment references.",
            "Refunds go back to the original payment method.",
            "Allow 5 to 10 business days for the bank to show the refund.",
        ],
        causes: &[
            (
                "A payment was retried",
                "A declined payment retried on a new card can succeed twice; the duplicate is refunded automatically within 3 days.",
            ),
            (
                "Seats were removed mid-cycle",
                "Unused seats are credited to the next invoice rather than refunded, unless you ask otherwise.",
            ),
            (
                "The bank is slow",
                "Refunds are sent at once but banks can take up to 10 business days.",
            ),
        ],
        practice: &[
            "Remove unused seats before the renewal date.",
            "Keep one card on file to avoid retries on several cards.",
            "Ask for credit instead of refund to keep accounting simple.",
        ],
    },
    Topic {
        category: "billing",
        name: "plan changes",
        tags: &["plan", "upgrade", "billing"],
        subjects: &[
            "How do I upgrade to the premium plan?",
            "Downgrade at end of contract",
            "Add seats to our plan",
        ],
        complaint: "We need five more seats before Monday's onboarding, how quickly can we add them?",
        steps: &[
            "Open **Billing > Plan**.",
            "Choose the new plan or change the number of seats.",
            "Review the prorated amount and confirm.",
            "Upgrades take effect at once; downgrades at the end of the billing period.",
        ],
        causes: &[
            (
                "Only owners can change plans",
                "Ask the workspace owner, or have them make you a billing administrator.",
            ),
            (
                "The contract is annual",
                "Annual contracts can add seats at any time but remove them only at renewal.",
            ),
            (
                "A payment failed",
                "Fix the payment method before changing plans.",
            ),
        ],
        practice: &[
            "Review seat usage monthly.",
            "Align renewal dates across workspaces.",
            "Talk to us before large changes for volume pricing.",
        ],
    },
    Topic {
        category: "billing",
        name: "failed payments",
        tags: &["payment", "card", "billing"],
        subjects: &[
            "Payment failed, account will be suspended",
            "Card declined on renewal",
            "Update card details",
        ],
        complaint: "We got an email that our payment failed and the account will be suspended. The card is fine.",
        steps: &[
            "Open **Billing > Payment method**.",
            "Add the new card or update the expiry date.",
            "Choose **Retry payment**.",
            "The account stays active for 14 days after a failed payment.",
        ],
        causes: &[
            (
                "The card expired",
                "Update the expiry date or add the new card.",
            ),
            (
                "The bank blocked an international charge",
                "Ask the bank to allow payments to us, then retry.",
            ),
            (
                "3-D Secure was not completed",
                "Retry the payment from the billing page while signed in, and approve it in your bank app.",
            ),
        ],
        practice: &[
            "Add a backup payment method.",
            "Use a company card that does not expire mid-contract.",
            "Pay annual plans by bank transfer if cards are unreliable.",
        ],
    },
    Topic {
        category: "network",
        name: "VPN connections",
        tags: &["vpn", "network"],
        subjects: &[
            "VPN drops every hour",
            "Cannot connect to VPN from hotel Wi-Fi",
            "VPN connected but nothing loads",
        ],
        complaint: "The VPN disconnects every hour on the hour and I lose my work in the remote session.",
        steps: &[
            "Install the latest VPN client from **Downloads**.",
            "Import the configuration file from your administrator.",
            "Connect and check that the status shows **Connected** with an assigned address.",
            "Open an internal page to confirm traffic goes through the tunnel.",
        ],
        causes: &[
            (
                "The session lifetime is one hour",
                "Ask an administrator to raise the re-key interval; re-keying should not drop the tunnel on current clients.",
            ),
            (
                "The network blocks UDP",
                "Switch the client to TCP port 443 in its settings.",
            ),
            (
                "DNS still points to the local network",
                "Enable **Use VPN DNS** so internal names resolve.",
            ),
        ],
        practice: &[
            "Keep the client up to date.",
            "Prefer wired or trusted networks for long sessions.",
            "Save work regularly when on unstable connections.",
        ],
    },
    Topic {
        category: "network",
        name: "Wi-Fi and connectivity",
        tags: &["wifi", "network"],
        subjects: &[
            "Office Wi-Fi keeps dropping",
            "Slow connection in meeting rooms",
            "Cannot join guest network",
        ],
        complaint: "The Wi-Fi in the third floor meeting rooms drops during every video call.",
        steps: &[
            "Forget the network on the device and join it again.",
            "Move closer to an access point and test speed.",
            "Note the time and room of each drop.",
            "Send the notes to support so we can check the access point logs.",
        ],
        causes: &[
            (
                "Too many devices on one access point",
                "We can add an access point or spread clients across bands.",
            ),
            (
                "The device roams poorly",
                "Update the Wi-Fi driver or prefer the 5 GHz band.",
            ),
            (
                "Interference",
                "Microwaves and neighbouring networks affect 2.4 GHz; use 5 GHz where possible.",
            ),
        ],
        practice: &[
            "Use wired connections for presentations.",
            "Report drops with time and place.",
            "Keep device drivers up to date.",
        ],
    },
    Topic {
        category: "email",
        name: "email delivery",
        tags: &["email", "delivery"],
        subjects: &[
            "Our notification emails land in spam",
            "Emails to customers bounce",
            "Set up SPF and DKIM",
        ],
        complaint: "Our customers say our emails end up in spam since we changed domains.",
        steps: &[
            "Add our SPF include to your domain's TXT record.",
            "Publish the DKIM keys shown in **Settings > Email**.",
            "Add a DMARC record, starting with `p=none`.",
            "Send a test message and check the headers show SPF, DKIM and DMARC pass.",
        ],
        causes: &[
            (
                "SPF or DKIM is missing",
                "Publish both records; receivers distrust unsigned mail.",
            ),
            (
                "The sending domain is new",
                "New domains build reputation slowly; send steady volumes at first.",
            ),
            (
                "Bounced addresses are still mailed",
                "Remove addresses that bounce; repeated bounces hurt reputation.",
            ),
        ],
        practice: &[
            "Authenticate every sending domain.",
            "Watch bounce and complaint rates.",
            "Move DMARC to `quarantine` once reports are clean.",
        ],
    },
    Topic {
        category: "email",
        name: "mailbox sync",
        tags: &["email", "sync", "mobile"],
        subjects: &[
            "Mailbox not syncing on phone",
            "Calendar invites missing",
            "Outlook asks for password repeatedly",
        ],
        complaint: "My phone stopped syncing mail two days ago, the desktop is fine.",
        steps: &[
            "Remove the account from the phone.",
            "Add it again choosing **Exchange** or **Microsoft 365**.",
            "Sign in with modern authentication when asked.",
            "Allow mail, calendar and contacts to sync.",
        ],
        causes: &[
            (
                "The password changed",
                "Phones keep the old password until the account is re-added.",
            ),
            (
                "Basic authentication was turned off",
                "Use an app that supports modern authentication.",
            ),
            (
                "The device is not compliant",
                "Mobile device management may block unencrypted phones; enable a screen lock.",
            ),
        ],
        practice: &[
            "Use the official mail app.",
            "Keep the phone's OS updated.",
            "Re-add accounts after password changes.",
        ],
    },
    Topic {
        category: "integrations",
        name: "API keys",
        tags: &["api", "keys", "developer"],
        subjects: &[
            "API returns 401 Unauthorized",
            "Rotate a leaked API key",
            "Where do I create an API key?",
        ],
        complaint: "Our integration started getting 401 errors overnight, we did not change anything.",
        steps: &[
            "Open **Settings > API keys**.",
            "Choose **Create key**, name it after the integration and pick its scopes.",
            "Copy the key now; it is shown once.",
            "Send it in the `Authorization: Bearer` header.",
        ],
        causes: &[
            (
                "The key was revoked or expired",
                "Create a new key and update the integration.",
            ),
            (
                "The key lacks a scope",
                "Create a key with the scopes the call needs.",
            ),
            (
                "The header is malformed",
                "Send `Authorization: Bearer <key>` with one space and no quotes.",
            ),
        ],
        practice: &[
            "One key per integration, so revoking one breaks nothing else.",
            "Rotate keys every 90 days.",
            "Never commit keys to source control; use a secret store.",
        ],
    },
    Topic {
        category: "integrations",
        name: "webhooks",
        tags: &["webhook", "developer"],
        subjects: &[
            "Webhooks stopped arriving",
            "Verify webhook signatures",
            "Webhook retries flood our server",
        ],
        complaint: "We stopped receiving webhooks yesterday and missed several orders.",
        steps: &[
            "Open **Settings > Webhooks** and add your HTTPS endpoint.",
            "Choose the events to send.",
            "Verify the `X-Signature` header with your signing secret.",
            "Answer with a 2xx status within 10 seconds.",
        ],
        causes: &[
            (
                "The endpoint answered errors",
                "After 5 failed deliveries in a row the webhook is paused; fix the endpoint and resume it.",
            ),
            (
                "The certificate is invalid",
                "We only deliver to endpoints with a valid TLS certificate.",
            ),
            (
                "The endpoint is slow",
                "Answer at once and process the event in the background.",
            ),
        ],
        practice: &[
            "Make handlers idempotent: deliveries can repeat.",
            "Use the event id to deduplicate.",
            "Watch the delivery log for failures.",
        ],
    },
    Topic {
        category: "integrations",
        name: "rate limits",
        tags: &["api", "rate-limit", "developer"],
        subjects: &[
            "Getting 429 Too Many Requests",
            "What are the API rate limits?",
            "Bulk import hits rate limit",
        ],
        complaint: "Our nightly sync fails with 429 errors halfway through.",
        steps: &[
            "Read the `RateLimit-Remaining` and `Retry-After` headers.",
            "Wait the number of seconds in `Retry-After` before retrying.",
            "Spread requests evenly rather than in bursts.",
            "Use bulk endpoints where they exist.",
        ],
        causes: &[
            (
                "Requests come in bursts",
                "Queue requests and send them at a steady rate.",
            ),
            (
                "Several integrations share a key",
                "Limits apply per key; give each integration its own.",
            ),
            (
                "Retries without backoff",
                "Back off exponentially, honouring Retry-After.",
            ),
        ],
        practice: &[
            "Cache responses that rarely change.",
            "Use webhooks instead of polling.",
            "Ask us about higher limits for large imports.",
        ],
    },
    Topic {
        category: "data",
        name: "data export",
        tags: &["export", "csv", "data"],
        subjects: &[
            "Export all tickets to CSV",
            "Export is missing custom fields",
            "Scheduled export failed",
        ],
        complaint: "The CSV export does not include our custom fields, we need them for the quarterly report.",
        steps: &[
            "Open **Reports > Export**.",
            "Pick the data set and the date range.",
            "Tick **Include custom fields**.",
            "Choose **Export**; a download link arrives by email when it is ready.",
        ],
        causes: &[
            (
                "Custom fields were not selected",
                "Tick **Include custom fields** before exporting.",
            ),
            (
                "The export is too large",
                "Exports over 1 million rows are split into several files.",
            ),
            (
                "The link expired",
                "Download links are valid for 7 days; export again.",
            ),
        ],
        practice: &[
            "Schedule recurring exports instead of running them by hand.",
            "Export by date range to keep files small.",
            "Store exports securely: they contain customer data.",
        ],
    },
    Topic {
        category: "data",
        name: "data import",
        tags: &["import", "csv", "data"],
        subjects: &[
            "CSV import fails on row 1",
            "Duplicate contacts after import",
            "Import dates in the wrong format",
        ],
        complaint: "The import fails immediately with an error on row 1, the file opens fine in Excel.",
        steps: &[
            "Save the file as CSV with UTF-8 encoding.",
            "Make the first row the column names.",
            "Open **Data > Import**, upload the file and map each column.",
            "Run a test import of ten rows before the full file.",
        ],
        causes: &[
            (
                "The file is not UTF-8",
                "Save as **CSV UTF-8** in your spreadsheet program.",
            ),
            ("Dates are ambiguous", "Use `YYYY-MM-DD` dates."),
            (
                "Rows match existing records",
                "Choose **Update existing** and map the email column as the key.",
            ),
        ],
        practice: &[
            "Clean data before importing.",
            "Import in batches.",
            "Keep the original file until you have checked the result.",
        ],
    },
    Topic {
        category: "mobile",
        name: "mobile app",
        tags: &["mobile", "ios", "android"],
        subjects: &[
            "Mobile app crashes on start",
            "Push notifications not arriving",
            "App stuck on loading screen",
        ],
        complaint: "The app crashes as soon as I open it since the last update.",
        steps: &[
            "Update the app from the App Store or Google Play.",
            "Restart the phone.",
            "If it still crashes, sign out, delete and reinstall the app.",
            "Send us the app version and phone model from **Settings > About**.",
        ],
        causes: &[
            (
                "An old app version",
                "Update to the latest version; old versions stop being supported after six months.",
            ),
            (
                "Notifications are disabled",
                "Allow notifications for the app in the phone settings.",
            ),
            (
                "Low storage",
                "Free up space; the app needs room for its offline cache.",
            ),
        ],
        practice: &[
            "Turn on automatic updates.",
            "Keep at least 1 GB free.",
            "Report crashes with the app version.",
        ],
    },
    Topic {
        category: "shipping",
        name: "order shipping",
        tags: &["shipping", "orders"],
        subjects: &[
            "Where is my order?",
            "Tracking number not working",
            "Package marked delivered but not received",
        ],
        complaint: "Tracking says delivered but nothing arrived, and no one in the building took it.",
        steps: &[
            "Open **Orders** and select the order.",
            "Follow the tracking link to the carrier's page.",
            "Check with neighbours and the building reception.",
            "If nothing turns up after 48 hours, open a ticket and we start a carrier claim.",
        ],
        causes: &[
            (
                "Tracking updates late",
                "Carriers can take 24 hours to show the first scan.",
            ),
            (
                "Left in a safe place",
                "Check porches, mailrooms and parcel lockers.",
            ),
            (
                "Wrong address",
                "Check the address on the order; we can redirect parcels still in transit.",
            ),
        ],
        practice: &[
            "Use an address where someone can sign.",
            "Turn on carrier notifications.",
            "Report missing parcels within 14 days.",
        ],
    },
    Topic {
        category: "shipping",
        name: "returns",
        tags: &["returns", "orders"],
        subjects: &[
            "How do I return an item?",
            "Return label not received",
            "Refund after return still pending",
        ],
        complaint: "I sent the item back two weeks ago and have not had my money back.",
        steps: &[
            "Open **Orders**, choose the order and **Return items**.",
            "Pick the items and the reason.",
            "Print the label and drop the parcel at a carrier point.",
            "Refunds are issued when the return is checked, within 5 business days of arrival.",
        ],
        causes: &[
            (
                "The return has not arrived",
                "Check the return tracking; refunds start on arrival.",
            ),
            (
                "The item was outside the return window",
                "Returns are accepted within 30 days of delivery.",
            ),
            (
                "The refund went to the original payment method",
                "Check the card or account used for the order.",
            ),
        ],
        practice: &[
            "Keep the return receipt until the refund arrives.",
            "Pack items in their original packaging.",
            "Start returns within 30 days.",
        ],
    },
    Topic {
        category: "hardware",
        name: "printers",
        tags: &["printer", "hardware"],
        subjects: &[
            "Printer shows offline",
            "Prints come out blank",
            "Cannot add the office printer",
        ],
        complaint: "The office printer shows offline on every laptop, but its screen says ready.",
        steps: &[
            "Check the printer is on the office network (not the guest network).",
            "Remove the printer from the laptop and add it again by its IP address.",
            "Install the latest driver from the manufacturer.",
            "Print a test page.",
        ],
        causes: &[
            (
                "The printer changed IP address",
                "Give it a fixed address in the router and re-add it.",
            ),
            (
                "The print queue is stuck",
                "Cancel all jobs and restart the print spooler.",
            ),
            (
                "The toner is empty",
                "Replace the cartridge; blank pages often mean no toner.",
            ),
        ],
        practice: &[
            "Give printers fixed IP addresses.",
            "Keep spare toner.",
            "Use the print server rather than direct connections.",
        ],
    },
    Topic {
        category: "performance",
        name: "slow dashboards",
        tags: &["performance", "reports"],
        subjects: &[
            "Dashboard takes a minute to load",
            "Reports time out",
            "App is slow since this morning",
        ],
        complaint: "Our main dashboard takes over a minute to load and often times out.",
        steps: &[
            "Narrow the date range of the dashboard's widgets.",
            "Remove widgets nobody uses.",
            "Turn on **Cache results** for widgets over large data.",
            "Check the status page for incidents.",
        ],
        causes: &[
            (
                "Wide date ranges",
                "Widgets over years of data are slow; use monthly summaries.",
            ),
            (
                "Too many widgets",
                "Each widget is a query; split large dashboards.",
            ),
            (
                "An incident",
                "Check the status page; performance recovers when it is resolved.",
            ),
        ],
        practice: &[
            "Keep dashboards focused.",
            "Schedule heavy reports outside working hours.",
            "Subscribe to the status page.",
        ],
    },
];

/// kind, actor, changes, comment body, author type, time.
type HistoryEntry = (
    &'static str,
    String,
    Map<String, Value>,
    Option<String>,
    Option<&'static str>,
    DateTime<Utc>,
);

const CHANNELS: &[Channel] = &[
    Channel::Email,
    Channel::Email,
    Channel::Chat,
    Channel::Chat,
    Channel::Web,
    Channel::Phone,
    Channel::Social,
    Channel::Api,
];

const AGENTS: &[&str] = &[
    "sam.rivera",
    "priya.shah",
    "tom.okafor",
    "lena.berg",
    "ken.mori",
    "ana.costa",
];

fn tier_for(dice: &mut Dice) -> Tier {
    match dice.below(10) {
        0..=2 => Tier::Free,
        3..=6 => Tier::Standard,
        7..=8 => Tier::Premium,
        _ => Tier::Enterprise,
    }
}

fn priority_for(dice: &mut Dice) -> Priority {
    match dice.below(20) {
        0..=5 => Priority::Low,
        6..=13 => Priority::Medium,
        14..=18 => Priority::High,
        _ => Priority::Urgent,
    }
}

fn email_of(first: &str, last: &str, index: usize, domain: &str) -> String {
    let clean = |s: &str| {
        s.to_lowercase()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
    };
    format!("{}.{}{index}@{domain}", clean(first), clean(last))
}

/// The articles: five per topic (how-to, troubleshooting, FAQ, known issue, best
/// practices), all in Markdown.
pub fn articles() -> Vec<(String, String, &'static str, Vec<String>)> {
    let mut articles = Vec::new();
    for topic in TOPICS {
        let tags: Vec<String> = topic.tags.iter().map(|t| t.to_string()).collect();
        let steps: String = topic
            .steps
            .iter()
            .enumerate()
            .map(|(i, step)| format!("{}. {step}\n", i + 1))
            .collect();
        articles.push((
            format!("How to handle {}", topic.name),
            format!(
                "# How to handle {name}\n\nThis guide walks through {name} from start to finish.\n\n## Steps\n\n{steps}\nIf something goes wrong, see *Troubleshooting {name}*.\n",
                name = topic.name
            ),
            topic.category,
            tags.clone(),
        ));
        let causes: String = topic
            .causes
            .iter()
            .map(|(cause, fix)| format!("### {cause}\n\n{fix}\n\n"))
            .collect();
        articles.push((
            format!("Troubleshooting {}", topic.name),
            format!(
                "# Troubleshooting {name}\n\nCustomers often write: \"{complaint}\"\n\nWork through the likely causes in order.\n\n{causes}Still stuck? Open a ticket with what you tried and when it happened.\n",
                name = topic.name,
                complaint = topic.complaint
            ),
            topic.category,
            tags.clone(),
        ));
        let faq: String = topic
            .subjects
            .iter()
            .zip(topic.causes.iter().cycle())
            .map(|(question, (cause, fix))| {
                format!(
                    "**{question}**\n\nMost often: {}. {fix}\n\n",
                    cause.to_lowercase()
                )
            })
            .collect();
        articles.push((
            format!("{} FAQ", capitalize(topic.name)),
            format!("# {} FAQ\n\n{faq}", capitalize(topic.name)),
            topic.category,
            tags.clone(),
        ));
        let (issue, workaround) = topic.causes[topic.causes.len() - 1];
        articles.push((
            format!("Known issue: {} ({})", issue.to_lowercase(), topic.name),
            format!(
                "# Known issue: {}\n\n**Affects:** {name}\n\n**Symptom:** {complaint}\n\n**Workaround:** {workaround}\n\nWe will update this article when a permanent fix ships.\n",
                issue.to_lowercase(),
                name = topic.name,
                complaint = topic.complaint
            ),
            topic.category,
            tags.clone(),
        ));
        let practice: String = topic.practice.iter().map(|p| format!("- {p}\n")).collect();
        articles.push((
            format!("Best practices for {}", topic.name),
            format!("# Best practices for {}\n\n{practice}", topic.name),
            topic.category,
            tags,
        ));
    }
    articles
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Loads the demo desk into `tenant`, unless it is already there.
pub async fn load(store: &Store, tenant: &TenantId) -> Result<DemoSummary, HubError> {
    load_at(store, tenant, Utc::now().trunc_subsecs(0)).await
}

/// As [`load`], with "now" given, so tests can check what is generated.
pub async fn load_at(
    store: &Store,
    tenant: &TenantId,
    now: DateTime<Utc>,
) -> Result<DemoSummary, HubError> {
    let mut dice = Dice(SEED);
    let articles = articles();
    // Customers are generated up front: their emails decide whether the desk is loaded.
    struct DemoCustomer {
        first: &'static str,
        last: &'static str,
        email: String,
        company: &'static str,
        tier: Tier,
        created_at: DateTime<Utc>,
    }
    let customers: Vec<DemoCustomer> = (0..CUSTOMERS)
        .map(|index| {
            let first = *dice.pick(FIRST_NAMES);
            let last = *dice.pick(LAST_NAMES);
            let (company, domain) = *dice.pick(COMPANIES);
            DemoCustomer {
                first,
                last,
                email: email_of(first, last, index, domain),
                company,
                tier: tier_for(&mut dice),
                created_at: now - Duration::days(120)
                    + Duration::minutes(dice.below(60 * 24 * 30) as i64),
            }
        })
        .collect();
    let store_err = |e: sqlx::Error| HubError::Store(e.into());
    let begin = store.begin_write_sql();
    let loaded = on_store!(store, pool => {
        let mut tx = pool.begin_with(begin).await.map_err(store_err)?;
        let exists: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM support_customers WHERE tenant_id = $1 AND email = $2",
        )
        .bind(tenant.as_str())
        .bind(&customers[0].email)
        .fetch_optional(&mut *tx)
        .await
        .map_err(store_err)?;
        if exists.is_some() {
            false
        } else {
            let mut ids = Vec::with_capacity(customers.len());
            for c in &customers {
                let metadata = json!({"demo": true, "source": "tideway demo"});
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO support_customers (tenant_id, first_name, last_name, email, phone, company, tier, metadata, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING id",
                )
                .bind(tenant.as_str())
                .bind(c.first)
                .bind(c.last)
                .bind(&c.email)
                .bind(format!("+1 555 01{:02} {:04}", dice.below(100), dice.below(10_000)))
                .bind(c.company)
                .bind(c.tier.as_str())
                .bind(Json(&metadata))
                .bind(c.created_at)
                .fetch_one(&mut *tx)
                .await
                .map_err(store_err)?;
                ids.push(id);
            }
            for (title, body, category, tags) in &articles {
                let created = now - Duration::days(200) + Duration::hours(dice.below(24 * 100) as i64);
                sqlx::query(
                    "INSERT INTO support_articles (tenant_id, title, body, category, tags, published, view_count, helpful_count, not_helpful_count, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, TRUE, $6, $7, $8, $9, $9)",
                )
                .bind(tenant.as_str())
                .bind(title)
                .bind(body)
                .bind(*category)
                .bind(Json(tags))
                .bind(dice.below(2000) as i64)
                .bind(dice.below(200) as i64)
                .bind(dice.below(30) as i64)
                .bind(created)
                .execute(&mut *tx)
                .await
                .map_err(store_err)?;
            }
            for _ in 0..TICKETS {
                let customer_index = dice.below(customers.len());
                let customer = &customers[customer_index];
                let customer_id = ids[customer_index];
                let topic = dice.pick(TOPICS);
                let priority = priority_for(&mut dice);
                let channel = *dice.pick(CHANNELS);
                // Older tickets are mostly finished; recent ones mostly still open.
                let age_minutes = (dice.unit() * 90.0 * 24.0 * 60.0) as i64;
                let created_at = now - Duration::minutes(age_minutes.max(5));
                let age_days = age_minutes as f64 / (24.0 * 60.0);
                let finished_chance = (age_days / 10.0).min(0.95);
                let target = sla_target(priority, customer.tier);
                let sla_due_at = created_at + target;
                let first_response_at = (dice.unit() < 0.9 || age_days > 2.0)
                    .then(|| created_at + Duration::minutes(10 + (dice.unit() * target.num_minutes() as f64 * 0.4) as i64))
                    .filter(|at| *at < now);
                let status = if dice.unit() < finished_chance {
                    if dice.below(3) == 0 { TicketStatus::Resolved } else { TicketStatus::Closed }
                } else {
                    *dice.pick(&[TicketStatus::Open, TicketStatus::Open, TicketStatus::InProgress, TicketStatus::Pending])
                };
                let resolved_at = (!status.is_active()).then(|| {
                    // Most are resolved within the SLA; some late.
                    let factor = if dice.below(8) == 0 { 1.2 + dice.unit() } else { 0.2 + dice.unit() * 0.7 };
                    (created_at + Duration::minutes((target.num_minutes() as f64 * factor) as i64)).min(now)
                });
                let closed_at = (status == TicketStatus::Closed).then(|| resolved_at.unwrap_or(now));
                let assignee = (status != TicketStatus::Open || dice.below(2) == 0).then(|| *dice.pick(AGENTS));
                let subject = *dice.pick(topic.subjects);
                let mut tags: Vec<String> = topic.tags.iter().take(2).map(|t| t.to_string()).collect();
                if priority == Priority::Urgent {
                    tags.push("escalated".into());
                }
                let updated_at = closed_at.or(resolved_at).or(first_response_at).unwrap_or(created_at);
                let mut version = 1_i64;
                let ticket_id: i64 = sqlx::query_scalar(
                    "INSERT INTO support_tickets (tenant_id, customer_id, subject, description, status, priority, category, tags, assignee, channel, sla_due_at, first_response_at, resolved_at, closed_at, version, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 1, $15, $16) RETURNING id",
                )
                .bind(tenant.as_str())
                .bind(customer_id)
                .bind(subject)
                .bind(topic.complaint)
                .bind(status.as_str())
                .bind(priority.as_str())
                .bind(topic.category)
                .bind(Json(&tags))
                .bind(assignee)
                .bind(channel.as_str())
                .bind(sla_due_at)
                .bind(first_response_at)
                .bind(resolved_at)
                .bind(closed_at)
                .bind(created_at)
                .bind(updated_at)
                .fetch_one(&mut *tx)
                .await
                .map_err(store_err)?;
                // The history an agent would have left: created, picked up, replied, moved on.
                let mut events: Vec<HistoryEntry> =
                    vec![("created", "customer-portal".to_string(), Map::new(), None, None, created_at)];
                let agent = assignee.unwrap_or("sam.rivera").to_string();
                if let Some(at) = first_response_at {
                    events.push(("comment", agent.clone(), Map::new(), Some(format!("Thanks for reaching out. I'm looking into \"{subject}\" now; {}", topic.steps[0])), Some("agent"), at));
                }
                if status != TicketStatus::Open {
                    let mut change = Map::new();
                    let path: &[TicketStatus] = match status {
                        TicketStatus::InProgress => &[TicketStatus::InProgress],
                        TicketStatus::Pending => &[TicketStatus::InProgress, TicketStatus::Pending],
                        TicketStatus::Resolved => &[TicketStatus::InProgress, TicketStatus::Resolved],
                        _ => &[TicketStatus::InProgress, TicketStatus::Resolved, TicketStatus::Closed],
                    };
                    let mut from = TicketStatus::Open;
                    let mut at = first_response_at.unwrap_or(created_at + Duration::minutes(5));
                    for step in path {
                        at = match step {
                            TicketStatus::Resolved => resolved_at.unwrap_or(at),
                            TicketStatus::Closed => closed_at.unwrap_or(at),
                            _ => at + Duration::minutes(1),
                        };
                        change.clear();
                        change.insert("status".into(), json!({"from": from.as_str(), "to": step.as_str()}));
                        events.push(("updated", agent.clone(), change.clone(), None, None, at));
                        from = *step;
                    }
                }
                events.sort_by_key(|event| event.5);
                for (kind, actor, changes, body, author, at) in events {
                    if kind != "created" {
                        version += 1;
                    }
                    sqlx::query(
                        "INSERT INTO support_ticket_events (tenant_id, ticket_id, kind, actor, changes, body, author_type, internal, version, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, FALSE, $8, $9)",
                    )
                    .bind(tenant.as_str())
                    .bind(ticket_id)
                    .bind(kind)
                    .bind(actor)
                    .bind(Json(&changes))
                    .bind(body)
                    .bind(author)
                    .bind(version)
                    .bind(at)
                    .execute(&mut *tx)
                    .await
                    .map_err(store_err)?;
                }
                sqlx::query("UPDATE support_tickets SET version = $1 WHERE id = $2")
                    .bind(version)
                    .bind(ticket_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(store_err)?;
                sqlx::query(
                    "INSERT INTO support_interactions (tenant_id, customer_id, ticket_id, channel, direction, content, agent, occurred_at, created_at) \
                     VALUES ($1, $2, $3, $4, 'inbound', $5, NULL, $6, $6)",
                )
                .bind(tenant.as_str())
                .bind(customer_id)
                .bind(ticket_id)
                .bind(channel.as_str())
                .bind(topic.complaint)
                .bind(created_at)
                .execute(&mut *tx)
                .await
                .map_err(store_err)?;
            }
            sqlx::query(
                "UPDATE support_customers SET \
                   ticket_count = (SELECT COUNT(*) FROM support_tickets t WHERE t.customer_id = support_customers.id), \
                   last_interaction_at = (SELECT MAX(i.occurred_at) FROM support_interactions i WHERE i.customer_id = support_customers.id) \
                 WHERE tenant_id = $1",
            )
            .bind(tenant.as_str())
            .execute(&mut *tx)
            .await
            .map_err(store_err)?;
            tx.commit().await.map_err(store_err)?;
            true
        }
    });
    Ok(DemoSummary {
        loaded,
        customers: CUSTOMERS,
        tickets: TICKETS,
        articles: articles.len(),
    })
}
