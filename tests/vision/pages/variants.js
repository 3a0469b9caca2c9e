// Applies the variant named in the URL's fragment and logs where the target ended up, as
// "ROTE_EXPECT {json}" on the console (make-corpus.sh reads it from Chromium's log).
(function () {
  const v = location.hash.slice(1) || "baseline";
  const body = document.body;
  let target = document.getElementById("target");
  let expect = "found";
  if (v.startsWith("shift-")) {
    const n = Number(v.slice(6));
    body.style.paddingTop = n + "px";
    body.style.paddingLeft = n + "px";
  } else if (v.startsWith("zoom-")) {
    document.documentElement.style.zoom = Number(v.slice(5)) / 100;
  } else if (v === "dark" || v === "recolor" || v === "altfont") {
    body.classList.add(v);
  } else if (v === "banner") {
    const b = document.createElement("div");
    b.className = "banner";
    b.innerHTML = "<span>We use cookies to keep you signed in and to measure how the site is used.</span>" +
      "<button>Accept all</button><button>Reject</button>";
    body.appendChild(b);
  } else if (v === "lookalike") {
    // A copy of the target's whole block (label, neighbours and all) inserted right after it: two
    // equally good candidates, which vision must call ambiguous.
    const block = target.closest("[data-block]") || target;
    const copy = block.cloneNode(true);
    if (copy.id === "target") copy.removeAttribute("id");
    copy.querySelectorAll("#target").forEach((e) => e.removeAttribute("id"));
    block.after(copy);
    expect = "ambiguous";
  } else if (v === "removed") {
    target.remove();
    expect = "not_found";
  }
  window.addEventListener("load", () => {
    let r = null;
    if (target.isConnected) {
      const b = target.getBoundingClientRect();
      r = { x: b.x + b.width / 2, y: b.y + b.height / 2, w: b.width, h: b.height };
    }
    console.log("ROTE_EXPECT " + JSON.stringify({ variant: v, expect: expect, target: r }));
  });
})();
