// Live parts of the status pages: an element with data-poll-url is re-fetched every
// data-poll-seconds and replaced; polling stops once the fetched part carries data-final.
document.querySelectorAll("[data-poll-url]").forEach((el) => {
  const every = Number(el.dataset.pollSeconds || 3) * 1000;
  const tick = async () => {
    try {
      const response = await fetch(el.dataset.pollUrl, { credentials: "same-origin" });
      if (response.ok) el.innerHTML = await response.text();
    } catch (err) {
      // A network blip: try again at the next tick.
    }
    if (!el.querySelector("[data-final]")) setTimeout(tick, every);
  };
  setTimeout(tick, every);
});
