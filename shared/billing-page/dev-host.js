// The development host (served by scripts/dev's local gateway at /billing): the API is this origin,
// the token the demo account's development token `dev:acct-demo` (or `dev:<account>` with
// `?account=<account>`). The deployed authorizer never accepts a development token.
(function () {
  "use strict";
  var params = new URLSearchParams(window.location.search);
  var account = params.get("account") || "acct-demo";
  window.BillingPage.mount(document.getElementById("billing"), {
    apiBase: window.location.origin,
    getToken: function () {
      return Promise.resolve("dev:" + account);
    },
  });
})();
