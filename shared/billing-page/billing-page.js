// The billing page (SPEC §3): what the signed-in account sees and changes about its billing.
//
// Embedding: load billing-page.css, billing-page-base.js and this file, then
//   BillingPage.mount(element, { apiBase: "https://api.example.com", getToken: () => tokenPromise })
// `getToken` returns (a promise of) the user's bearer token for the billing API; it is asked before
// every request, so the host can refresh it. Optional: `locale` (default the browser's).
//
// Rules this page keeps: every amount shown is one the API gave, formatted in the account's currency
// from its decimal string (the page never adds, rounds or converts an amount); the independent reads
// start together, and each section loads, fails and retries on its own, so a Stripe or network
// failure in one never blanks the others.
(function (global) {
  "use strict";

  var STATUS = {
    draft: "Draft",
    open: "Open",
    paid: "Paid",
    payment_failed: "Payment failed",
    void: "Void",
    uncollectible: "Uncollectible",
  };

  var base = global.BillingPageBase;
  if (!base) throw new Error("load billing-page-base.js before billing-page.js");
  var h = base.h, fill = base.fill, table = base.table, Format = base.Format, Api = base.Api;

  // ---- the page -----------------------------------------------------------------------------
  function section(id, title) {
    var body = h("div", { class: "bp-body", "aria-busy": "true" }, h("p", { class: "bp-muted", text: "Loading…" }));
    var el = h("section", { class: "bp-card", id: "bp-" + id, "aria-labelledby": "bp-" + id + "-h" },
      h("h2", { id: "bp-" + id + "-h", text: title }), body);
    return { el: el, body: body };
  }

  function Page(root, options) {
    this.api = new Api(options.apiBase, options.getToken);
    this.fmt = new Format(options.locale);
    this.currency = null;
    this.summary = null;
    this.invoiceList = null;
    this.alertSettings = null;
    this.deleted = false;
    this.notice = h("div", { class: "bp-notice", role: "status", "aria-live": "polite" });
    this.s = {
      credits: section("credits", "Credits"),
      month: section("month", "This month"),
      payment: section("payment", "Payment method"),
      usage: section("usage", "Usage by service"),
      invoices: section("invoices", "Invoices"),
      alerts: section("alerts", "Cost alerts"),
      account: section("account", "Delete account"),
    };
    var s = this.s;
    root.classList.add("bp");
    fill(root,
      h("h1", { text: "Billing" }),
      this.notice,
      h("div", { class: "bp-grid" }, s.credits.el, s.month.el, s.payment.el),
      s.usage.el, s.invoices.el,
      h("div", { class: "bp-grid bp-grid-2" }, s.alerts.el, s.account.el));
  }

  Page.prototype.say = function (text, kind) {
    fill(this.notice, text ? h("p", { class: "bp-" + (kind || "info"), text: text }) : null);
  };

  Page.prototype.failed = function (sec, err, retry) {
    fill(sec.body,
      h("p", { class: "bp-error", role: "alert", text: err.message }),
      retry ? h("button", { type: "button", class: "bp-secondary", text: "Try again", onclick: retry }) : null);
  };

  Page.prototype.load = function () {
    var self = this;
    var returned = new URLSearchParams(global.location.search).get("payment_method") === "updated";
    if (returned) {
      self.say("Your new payment method was saved. It shows here as soon as Stripe confirms it.", "success");
      var url = new URL(global.location.href);
      url.searchParams.delete("payment_method");
      global.history.replaceState(null, "", url.toString());
    }
    // Every independent read starts now; each section renders when its own answer arrives.
    var summary = self.loadSummary();
    self.loadPaymentMethod(returned ? 10 : 0);
    var invoices = self.loadInvoices();
    self.loadAlerts();
    summary.then(function () { self.loadUsage(self.summary ? self.summary.month : null); });
    Promise.all([summary, invoices]).then(function () { self.renderAccount(); });
  };

  Page.prototype.cur = function (fromResponse) {
    return (fromResponse && fromResponse.currency) || this.currency || "USD";
  };

  Page.prototype.loadSummary = function () {
    var self = this;
    return self.api.call("GET", "/v1/billing/summary").then(function (s) {
      self.summary = s;
      self.currency = s.currency;
      self.renderSummary(s);
    }, function (e) {
      var retry = function () { self.loadSummary().then(function () { self.renderAccount(); }); };
      self.failed(self.s.credits, e, retry);
      self.failed(self.s.month, e, null);
    });
  };

  Page.prototype.renderSummary = function (s) {
    var f = this.fmt, c = s.currency;
    var figure = function (label, value, id) {
      return h("div", { class: "bp-figure" }, h("dt", { text: label }), h("dd", { id: id, text: value }));
    };
    var runway = null;
    var runsOut = s.credits && s.credits.runs_out_at;
    if (runsOut) {
      runway = h("p", { id: "bp-runway", text: "At the current rate, your credits run out on " + f.dateTime(runsOut) + "." });
    }
    fill(this.s.credits.body,
      h("dl", {},
        figure("Remaining now", f.money(s.credits.remaining, c), "bp-credits-now"),
        figure("After this month's estimate", f.money(s.credits.remaining_after_month, c), "bp-credits-after")),
      runway);
    fill(this.s.month.body,
      h("dl", {},
        figure("Month to date", f.money(s.month_to_date, c), "bp-mtd"),
        figure("Projected to month end", f.money(s.projected_month_end, c), "bp-projected"),
        figure("Next charge", f.date(s.next_charge_date), "bp-next-charge")),
      h("p", { class: "bp-muted", text: "Projection: running resources assumed to keep running until the month ends. Figures as of " + f.dateTime(s.as_of) + "." }));
  };

  // ---- payment method -------------------------------------------------------------------------
  Page.prototype.loadPaymentMethod = function (polls) {
    var self = this;
    return self.api.call("GET", "/v1/billing/payment-method").then(function (m) {
      self.renderPaymentMethod(m);
      if (polls > 0) global.setTimeout(function () { self.loadPaymentMethod(polls - 1); }, 1000);
    }, function (e) {
      self.renderPaymentMethod({ state: "error", message: e.message });
    });
  };

  Page.prototype.renderPaymentMethod = function (m) {
    var self = this;
    var what;
    if (m.state === "card") {
      what = h("p", { id: "bp-card" },
        h("strong", { class: "bp-brand", text: m.brand.charAt(0).toUpperCase() + m.brand.slice(1) }),
        " ending " + m.last4 + ", expires " + String(m.exp_month).padStart(2, "0") + "/" + m.exp_year);
    } else if (m.state === "none") {
      what = h("p", { id: "bp-card", class: "bp-warning", text: "No payment method saved. Add one so that usage beyond your credits can be charged." });
    } else if (m.state === "other") {
      what = h("p", { id: "bp-card", text: "A payment method other than a card is saved." });
    } else {
      what = h("div", { role: "alert" },
        h("p", { id: "bp-card", class: "bp-error", text: m.state === "unavailable"
          ? "Your payment method cannot be shown right now (Stripe is unavailable). The rest of this page is up to date."
          : m.message + " The rest of this page is unaffected." }),
        h("button", { type: "button", class: "bp-secondary", text: "Try again", onclick: function () { self.loadPaymentMethod(0); } }));
    }
    var status = h("p", { class: "bp-field-error", role: "alert" });
    var go = function (path) {
      return function (ev) {
        var button = ev.currentTarget;
        button.disabled = true;
        self.api.call("POST", path).then(function (page) {
          global.location.assign(page.url);
        }, function (e) {
          button.disabled = false;
          status.textContent = e.message;
        });
      };
    };
    fill(this.s.payment.body, what,
      h("div", { class: "bp-actions" },
        h("button", { type: "button", id: "bp-change-method", disabled: self.deleted, text: "Change payment method", onclick: go("/v1/billing/payment-method/checkout") }),
        h("button", { type: "button", id: "bp-update-info", class: "bp-secondary", disabled: self.deleted, text: "Update payment information", onclick: go("/v1/billing/payment-method/portal") })),
      status,
      h("p", { class: "bp-muted", text: "Card details are entered on Stripe's pages; this platform never sees them." }));
  };

  // ---- usage ----------------------------------------------------------------------------------
  function pastMonths(current, count) {
    var y = Number(current.slice(0, 4)), m = Number(current.slice(5, 7));
    var out = [];
    for (var i = 0; i < count; i++) {
      out.push(y + "-" + String(m).padStart(2, "0"));
      m -= 1;
      if (m === 0) { m = 12; y -= 1; }
    }
    return out;
  }

  function bars(label, items, valueOf, textOf, vertical) {
    // Bar lengths are drawn in proportion to the server's figures; the numbers shown are its own.
    var max = items.reduce(function (a, it) { return Math.max(a, Math.abs(Number(valueOf(it)))); }, 0) || 1;
    var chart = h("div", { class: vertical ? "bp-chart bp-vertical" : "bp-chart", role: "img", "aria-label": label });
    items.forEach(function (it) {
      var share = (Math.abs(Number(valueOf(it))) / max * 100).toFixed(1) + "%";
      var bar = h("span", { class: "bp-bar", style: (vertical ? "height:" : "width:") + share });
      chart.appendChild(vertical
        ? h("div", { class: "bp-col", title: it.label + ": " + textOf(it) }, h("div", { class: "bp-col-track" }, bar), h("span", { class: "bp-col-label", text: it.short }))
        : h("div", { class: "bp-row" }, h("span", { class: "bp-row-label", text: it.label }), h("span", { class: "bp-track" }, bar), h("span", { class: "bp-row-value", text: textOf(it) })));
    });
    return chart;
  }

  Page.prototype.loadUsage = function (month) {
    var self = this, f = self.fmt;
    var current = self.summary ? self.summary.month : new Date().toISOString().slice(0, 7);
    month = month || current;
    var body = self.s.usage.body;
    body.setAttribute("aria-busy", "true");
    var select = h("select", { id: "bp-usage-month", onchange: function (e) { self.loadUsage(e.target.value); } },
      pastMonths(current, 13).map(function (ym) {
        return h("option", { value: ym, selected: ym === month, text: f.month(ym) + (ym === current ? " (to date)" : "") });
      }));
    var csvStatus = h("span", { class: "bp-field-error", role: "alert" });
    var controls = h("div", { class: "bp-controls" },
      h("label", { for: "bp-usage-month", text: "Month" }), select,
      h("button", { type: "button", id: "bp-csv", class: "bp-secondary", text: "Download sessions (CSV)", onclick: function () { self.downloadCsv(month, csvStatus); } }),
      csvStatus);
    return self.api.call("GET", "/v1/billing/usage?month=" + month).then(function (u) {
      var c = self.cur(u);
      var lines = u.lines.map(function (l) {
        var adj = l.usage_month !== u.month ? " (adjustment for " + f.month(l.usage_month) + ")" : "";
        return { label: l.service + adj, amount: l.amount, hours: l.hours, usage_month: l.usage_month };
      });
      var days = (u.by_day || []).map(function (d) { return { label: f.day(d.date), short: d.date.slice(8), amount: d.amount }; });
      var content = [controls, h("p", { class: "bp-total" }, "Total for " + f.month(u.month) + ": ", h("strong", { id: "bp-usage-total", text: f.money(u.total, c) }))];
      if (!lines.length) {
        content.push(h("p", { class: "bp-muted", text: "No usage in " + f.month(u.month) + "." }));
      } else {
        content.push(
          h("h3", { text: "By service" }),
          bars("Amount by service, " + f.month(u.month), lines, function (l) { return l.amount; }, function (l) { return f.money(l.amount, c) + " · " + f.hours(l.hours); }),
          table("Usage by service, " + f.month(u.month), ["Service", "Hours", "Amount"], lines.map(function (l) {
            return [l.label, f.hours(l.hours), f.money(l.amount, c)];
          }), [false, true, true]));
        if (days.length) {
          content.push(
            h("h3", { text: "By day" }),
            bars("Amount by day, " + f.month(u.month), days, function (d) { return d.amount; }, function (d) { return f.money(d.amount, c); }, true),
            h("details", {}, h("summary", { text: "Daily amounts as a table" }),
              table("Usage by day, " + f.month(u.month), ["Day", "Amount"], days.map(function (d) { return [d.label, f.money(d.amount, c)]; }), [false, true])));
        }
      }
      fill(body, content);
    }, function (e) {
      fill(body, controls, h("p", { class: "bp-error", role: "alert", text: e.message }),
        h("button", { type: "button", class: "bp-secondary", text: "Try again", onclick: function () { self.loadUsage(month); } }));
    });
  };

  Page.prototype.downloadCsv = function (month, status) {
    status.textContent = "";
    this.api.call("GET", "/v1/billing/usage?detail=sessions&month=" + month, undefined, "text/csv").then(function (csv) {
      var link = h("a", { href: URL.createObjectURL(new Blob([csv], { type: "text/csv" })), download: "sessions-" + month + ".csv" });
      document.body.appendChild(link);
      link.click();
      link.remove();
    }, function (e) {
      status.textContent = e.message;
    });
  };

  // ---- invoices -------------------------------------------------------------------------------
  Page.prototype.loadInvoices = function () {
    var self = this, f = self.fmt;
    return self.api.call("GET", "/v1/billing/invoices").then(function (r) {
      self.invoiceList = r.invoices;
      if (!r.invoices.length) {
        fill(self.s.invoices.body, h("p", { class: "bp-muted", text: "No invoices yet. Your first is issued on the first business day after your first month of usage." }));
        return;
      }
      var rows = r.invoices.map(function (inv) {
        var c = self.cur(inv);
        var links = h("span", { class: "bp-links" },
          inv.hosted_invoice_url ? h("a", { href: inv.hosted_invoice_url, target: "_blank", rel: "noopener", text: "View invoice" }) : null,
          inv.invoice_pdf_url ? h("a", { href: inv.invoice_pdf_url, target: "_blank", rel: "noopener", text: "PDF" }) : null);
        var lines = h("details", { class: "bp-lines" }, h("summary", { text: inv.lines.length + " line" + (inv.lines.length === 1 ? "" : "s") }),
          h("ul", {}, inv.lines.map(function (l) {
            return h("li", {}, h("span", { text: l.description }), h("span", { class: "bp-num", text: f.money(l.amount, c) }));
          })));
        return [f.month(inv.month),
          h("span", { class: "bp-status bp-status-" + inv.status, text: STATUS[inv.status] || inv.status }),
          f.money(inv.gross, c), f.money(inv.credits_applied, c), f.money(inv.amount_charged, c), links, lines];
      });
      fill(self.s.invoices.body, table("Past invoices", ["Month", "Status", "Gross", "Credits", "Charged", "Stripe", "Lines"], rows,
        [false, false, true, true, true, false, false]));
    }, function (e) {
      self.failed(self.s.invoices, e, function () { self.loadInvoices().then(function () { self.renderAccount(); }); });
    });
  };

  // ---- alerts ---------------------------------------------------------------------------------
  Page.prototype.loadAlerts = function () {
    var self = this;
    return Promise.all([self.api.call("GET", "/v1/billing/alerts"), self.api.call("GET", "/v1/billing/spend-limit")]).then(function (r) {
      self.alertSettings = r[0];
      self.spendLimit = r[1].limit;
      self.renderAlerts(null);
    }, function (e) {
      self.failed(self.s.alerts, e, function () { self.loadAlerts(); });
    });
  };

  Page.prototype.saveAlerts = function (settings, errorEl, input) {
    var self = this;
    errorEl.textContent = "";
    return self.api.call("PUT", "/v1/billing/alerts", { email: settings.email, thresholds: settings.thresholds, forecast: !!settings.forecast, low_balance: settings.low_balance || [] }).then(function (a) {
      self.alertSettings = a;
      self.renderAlerts(null);
      self.say("Alert settings saved.", "success");
    }, function (e) {
      errorEl.textContent = e.message;
      if (input) {
        input.setAttribute("aria-invalid", "true");
        input.focus();
      }
    });
  };

  Page.prototype.renderAlerts = function () {
    var self = this, f = self.fmt, a = self.alertSettings, c = self.cur();
    var emailError = h("p", { id: "bp-email-error", class: "bp-field-error", role: "alert" });
    var email = h("input", { id: "bp-alert-email", type: "email", autocomplete: "email", value: a.email, "aria-describedby": "bp-email-error", required: true });
    var thresholdError = h("p", { id: "bp-threshold-error", class: "bp-field-error", role: "alert" });
    var amount = h("input", { id: "bp-new-threshold", type: "text", inputmode: "decimal", "aria-describedby": "bp-threshold-help bp-threshold-error" });
    var list = a.thresholds.length
      ? h("ul", { class: "bp-thresholds", id: "bp-threshold-list" }, a.thresholds.map(function (t) {
        return h("li", {}, h("span", { text: f.money(t, c) }),
          h("button", { type: "button", class: "bp-link", "aria-label": "Remove the " + f.money(t, c) + " threshold", text: "Remove", onclick: function () {
            self.saveAlerts({ email: a.email, thresholds: a.thresholds.filter(function (x) { return x !== t; }), forecast: a.forecast, low_balance: a.low_balance }, thresholdError, null);
          } }));
      }))
      : h("p", { class: "bp-muted", id: "bp-threshold-list", text: "No thresholds: no cost alert is sent." });
    fill(self.s.alerts.body,
      a.refused ? h("p", { class: "bp-warning", role: "alert", text: "Alerts are paused: the mail service refused this address (" + a.refused + "). Save another address to resume them." }) : null,
      h("form", { class: "bp-form", novalidate: true, onsubmit: function (ev) {
        ev.preventDefault();
        email.removeAttribute("aria-invalid");
        if (!email.value.trim()) {
          emailError.textContent = "Enter the email address that receives the alerts.";
          email.setAttribute("aria-invalid", "true");
          return;
        }
        self.saveAlerts({ email: email.value.trim(), thresholds: a.thresholds, forecast: a.forecast, low_balance: a.low_balance }, emailError, email);
      } },
        h("label", { for: "bp-alert-email", text: "Alert email" }),
        h("div", { class: "bp-inline" }, email, h("button", { type: "submit", class: "bp-secondary", id: "bp-save-email", text: "Save email" })),
        emailError),
      h("h3", { text: "Monthly cost thresholds" }),
      list,
      h("form", { class: "bp-form", novalidate: true, onsubmit: function (ev) {
        ev.preventDefault();
        amount.removeAttribute("aria-invalid");
        var value = amount.value.trim();
        if (!value) {
          thresholdError.textContent = "Enter an amount, for example 100.";
          amount.setAttribute("aria-invalid", "true");
          return;
        }
        // Sent as typed: the API validates it and says what is wrong.
        self.saveAlerts({ email: email.value.trim() || a.email, thresholds: a.thresholds.concat([value]), forecast: a.forecast, low_balance: a.low_balance }, thresholdError, amount);
      } },
        h("label", { for: "bp-new-threshold", text: "Add a threshold (" + c + ")" }),
        h("p", { id: "bp-threshold-help", class: "bp-muted", text: "One email is sent the first time this month's cost reaches each threshold." }),
        h("div", { class: "bp-inline" }, amount, h("button", { type: "submit", id: "bp-add-threshold", text: "Add threshold" })),
        thresholdError),
      self.renderSpendLimit());
  };

  // The monthly spend limit: sent as typed (the API validates it); `null` removes it.
  Page.prototype.renderSpendLimit = function () {
    var self = this, f = self.fmt, c = self.cur(), limit = self.spendLimit;
    var box = h("div", { id: "bp-limit" });
    var error = h("p", { id: "bp-limit-error", class: "bp-field-error", role: "alert" });
    var input = h("input", { id: "bp-spend-limit", type: "text", inputmode: "decimal", value: limit || "", "aria-describedby": "bp-limit-help bp-limit-error" });
    var save = function (value) {
      error.textContent = "";
      input.removeAttribute("aria-invalid");
      self.api.call("PUT", "/v1/billing/spend-limit", { limit: value }).then(function (r) {
        self.spendLimit = r.limit;
        box.replaceWith(self.renderSpendLimit());
        self.say(r.limit === null ? "Spend limit removed." : "Spend limit saved.", "success");
      }, function (e) {
        error.textContent = e.message;
        input.setAttribute("aria-invalid", "true");
        input.focus();
      });
    };
    fill(box,
      h("h3", { text: "Monthly spend limit" }),
      h("p", { id: "bp-limit-current", text: limit === null || limit === undefined ? "No spend limit." : "Limit: " + f.money(limit, c) + " a month." }),
      h("form", { class: "bp-form", novalidate: true, onsubmit: function (ev) {
        ev.preventDefault();
        var value = input.value.trim();
        if (!value) {
          error.textContent = "Enter an amount, for example 500.";
          input.setAttribute("aria-invalid", "true");
          return;
        }
        save(value);
      } },
        h("label", { for: "bp-spend-limit", text: "Spend limit (" + c + ")" }),
        h("p", { id: "bp-limit-help", class: "bp-muted", text: "When this month's cost reaches it, new resources are not started. You are warned by email an hour before, if alerts are set." }),
        h("div", { class: "bp-inline" }, input,
          h("button", { type: "submit", id: "bp-save-limit", text: "Set limit" }),
          limit === null || limit === undefined ? null : h("button", { type: "button", class: "bp-link", id: "bp-remove-limit", text: "Remove limit", onclick: function () { save(null); } })),
        error));
    return box;
  };

  // ---- account deletion -----------------------------------------------------------------------
  Page.prototype.renderAccount = function () {
    var self = this, f = self.fmt, s = self.summary;
    if (self.deleted) return;
    var c = self.cur();
    var unpaid = (self.invoiceList || []).filter(function (i) { return i.status === "open" || i.status === "payment_failed"; });
    var due = [s
      ? "Usage so far this month (" + f.money(s.month_to_date, c) + " to date) stays due and is charged on " + f.date(s.next_charge_date) + ", the first business day of next month, after your credits."
      : "Usage so far this month stays due and is charged on the first business day of next month, after your credits."];
    unpaid.forEach(function (i) {
      due.push("The " + f.month(i.month) + " invoice (" + f.money(i.amount_charged, self.cur(i)) + ", " + STATUS[i.status].toLowerCase() + ") stays due.");
    });
    var error = h("p", { class: "bp-field-error", role: "alert" });
    var dialog = h("dialog", { id: "bp-delete-dialog", "aria-labelledby": "bp-delete-title" },
      h("h3", { id: "bp-delete-title", text: "Delete this account?" }),
      h("p", { text: "Running resources stop being billed now and no new usage is accepted." }),
      h("ul", { id: "bp-delete-due" }, due.map(function (d) { return h("li", { text: d }); })),
      error,
      h("div", { class: "bp-actions" },
        h("button", { type: "button", class: "bp-danger", id: "bp-delete-confirm", text: "Delete account", onclick: function (ev) {
          ev.currentTarget.disabled = true;
          self.api.call("DELETE", "/v1/account").then(function (d) {
            dialog.close();
            self.accountDeleted(d);
          }, function (e) {
            ev.target.disabled = false;
            error.textContent = e.message;
          });
        } }),
        h("button", { type: "button", class: "bp-secondary", id: "bp-delete-cancel", text: "Keep my account", onclick: function () { dialog.close(); } })));
    fill(self.s.account.body,
      h("p", { text: "Deleting the account stops billing for anything new. What you have used stays due." }),
      h("button", { type: "button", class: "bp-danger", id: "bp-delete", text: "Delete account…", onclick: function () { dialog.showModal(); } }),
      dialog);
  };

  Page.prototype.accountDeleted = function (d) {
    var f = this.fmt, c = this.cur(d);
    this.deleted = true;
    fill(this.s.account.body, h("div", { id: "bp-deleted", role: "alert" },
      h("p", {}, h("strong", { text: "Your account was deleted on " + f.dateTime(d.deleted_at) + "." })),
      h("p", { id: "bp-final-charge", text: "Final charge on " + f.date(d.final_charge_date) + ": usage " + f.money(d.usage_to_be_billed, c) + " (before credits), unpaid invoices " + f.money(d.unpaid_invoices, c) + "." })));
    this.say("Your account was deleted. The final charge is on " + f.date(d.final_charge_date) + ".", "info");
    // Nothing can be changed any more; the figures and invoices stay readable.
    Array.prototype.forEach.call(document.querySelectorAll("#bp-payment button, #bp-alerts button, #bp-alerts input"), function (b) {
      b.disabled = true;
    });
  };

  function mount(root, options) {
    if (!root || !options || !options.getToken) throw new Error("BillingPage.mount(element, { apiBase, getToken })");
    var page = new Page(root, options);
    page.load();
    return page;
  }

  global.BillingPage = { mount: mount };
})(window);
