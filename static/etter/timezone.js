// Tell the site the browser's time zone, so that times show in it (unless the user chose one).
// The first page of a visit in a new zone reloads once, to show its times in that zone.
(function () {
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (!zone) return;
  var current = (document.cookie.match(/(?:^|; )etter_tz=([^;]*)/) || [])[1];
  if (current === encodeURIComponent(zone)) return;
  document.cookie = "etter_tz=" + encodeURIComponent(zone) + "; path=/; max-age=31536000; SameSite=Lax";
  if (document.documentElement.dataset.zoneChosen !== "true" && !sessionStorage.getItem("etter_tz_reloaded")) {
    sessionStorage.setItem("etter_tz_reloaded", "1");
    location.reload();
  }
})();
