// The billing page's building blocks (load before billing-page.js): DOM helpers, the formatting of
// the API's figures (from their decimal strings: never computed), and the API client. Exposed as
// window.BillingPageBase for billing-page.js only.
(function (global) {
  "use strict";

  // ---- small DOM helpers -------------------------------------------------------------------
  function h(tag, attrs) {
    var el = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) return;
      if (k === "text") el.textContent = v;
      else if (k.slice(0, 2) === "on") el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? "" : v);
    });
    for (var i = 2; i < arguments.length; i++) append(el, arguments[i]);
    return el;
  }
  function append(el, child) {
    if (child === null || child === undefined || child === false) return;
    if (Array.isArray(child)) child.forEach(function (c) { append(el, c); });
    else el.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
  }
  function fill(el) {
    el.replaceChildren();
    for (var i = 1; i < arguments.length; i++) append(el, arguments[i]);
    el.removeAttribute("aria-busy");
  }
  function table(caption, heads, rows, numeric) {
    return h("div", { class: "bp-scroll", role: "region", "aria-label": caption, tabindex: "0" },
      h("table", {},
        h("caption", { text: caption }),
        h("thead", {}, h("tr", {}, heads.map(function (t, i) {
          return h("th", { scope: "col", class: numeric && numeric[i] ? "bp-num" : null, text: t });
        }))),
        h("tbody", {}, rows.map(function (r) {
          return h("tr", {}, r.map(function (c, i) {
            return h(i === 0 ? "th" : "td", {
              scope: i === 0 ? "row" : null,
              class: numeric && numeric[i] ? "bp-num" : null,
            }, c);
          }));
        }))));
  }

  // ---- formatting: from the server's strings, never computed -------------------------------
  function Format(locale) {
    this.locale = locale;
  }
  Format.prototype.money = function (amount, currency) {
    if (amount === null || amount === undefined) return "—";
    var text = String(amount);
    var decimals = (text.split(".")[1] || "").length;
    var nf = new Intl.NumberFormat(this.locale, { style: "currency", currency: currency });
    var min = nf.resolvedOptions().minimumFractionDigits;
    // A string is formatted as the exact decimal it is (Intl.NumberFormat v3).
    return new Intl.NumberFormat(this.locale, {
      style: "currency",
      currency: currency,
      minimumFractionDigits: min,
      maximumFractionDigits: Math.max(min, decimals),
    }).format(text);
  };
  Format.prototype.date = function (iso) {
    // A calendar date (YYYY-MM-DD) is a UTC day.
    var d = new Date(iso.length === 10 ? iso + "T00:00:00Z" : iso);
    return new Intl.DateTimeFormat(this.locale, { dateStyle: "long", timeZone: "UTC" }).format(d);
  };
  Format.prototype.dateTime = function (iso) {
    return new Intl.DateTimeFormat(this.locale, {
      year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
      timeZone: "UTC", timeZoneName: "short",
    }).format(new Date(iso));
  };
  Format.prototype.month = function (ym) {
    return new Intl.DateTimeFormat(this.locale, { month: "long", year: "numeric", timeZone: "UTC" })
      .format(new Date(ym + "-01T00:00:00Z"));
  };
  Format.prototype.day = function (iso) {
    return new Intl.DateTimeFormat(this.locale, { day: "numeric", month: "short", timeZone: "UTC" })
      .format(new Date(iso + "T00:00:00Z"));
  };
  Format.prototype.hours = function (n) {
    return new Intl.NumberFormat(this.locale).format(n) + " h";
  };

  // ---- the API ------------------------------------------------------------------------------
  function ApiError(status, message) {
    this.status = status;
    this.message = message;
  }
  function Api(base, getToken) {
    this.base = String(base || "").replace(/\/+$/, "");
    this.getToken = getToken;
  }
  Api.prototype.call = function (method, path, body, accept) {
    var base = this.base;
    return Promise.resolve(this.getToken()).then(function (token) {
      var headers = { Authorization: "Bearer " + token, Accept: accept || "application/json" };
      if (body !== undefined) headers["Content-Type"] = "application/json";
      return fetch(base + path, {
        method: method,
        headers: headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    }).then(function (resp) {
      if (resp.ok) return accept === "text/csv" ? resp.text() : resp.json();
      return resp.text().then(function (text) {
        var detail = null;
        try {
          var p = JSON.parse(text);
          detail = p.detail || p.title;
        } catch (e) { /* not a problem document */ }
        throw new ApiError(resp.status, detail || "The billing service answered " + resp.status + ".");
      });
    }, function (e) {
      if (e instanceof ApiError) throw e;
      throw new ApiError(0, "The billing service could not be reached. Check your connection and try again.");
    });
  };

  global.BillingPageBase = { h: h, fill: fill, table: table, Format: Format, Api: Api, ApiError: ApiError };
})(window);
