/*W:640 The stylesheet is written out as book/html/style.css. Its colours
are custom properties set twice: once for light pages and once inside a
`prefers-color-scheme: dark` rule, so the book follows the reader's system
without a switch of its own. The type is the system's own, because fonts
fetched from elsewhere would break the promise of a book that works offline.

A print rule hides what only makes sense on a screen (the sidebar, the
search box, the previous and next links), lets long lines of code wrap
instead of being cut off at the margin, and keeps a section's heading with
the text that follows it.
*/
/// The two files every HTML book carries unchanged: its stylesheet and the code of its
/// search box. They are Swift strings so that weave is one self-contained program.
enum HTMLAssets {
    /// book/html/style.css. Layout: a fixed sidebar of 19rem and a reading column of
    /// at most 60rem; below 55rem of width the sidebar moves above the text.
    static let styleSheet = """
        /* The book's stylesheet; written by weave. */
        :root {
          --text: #1d1f21; --muted: #5f6368; --page: #ffffff; --side: #f5f6f8; --rule: #dde1e6;
          --link: #0b57d0; --code-bg: #f6f8fa; --mark: #fff3c4;
          --k: #a626a4; --s: #50a14f; --c: #6a737d; --n: #986801; --a: #c18401; --d: #e45649; --t: #0184bc;
        }
        @media (prefers-color-scheme: dark) {
          :root {
            --text: #e3e5e8; --muted: #9aa0a6; --page: #16181c; --side: #1e2126; --rule: #30343b;
            --link: #8ab4f8; --code-bg: #1e2126; --mark: #322f1c;
            --k: #c678dd; --s: #98c379; --c: #7f848e; --n: #d19a66; --a: #e5c07b; --d: #e06c75; --t: #56b6c2;
          }
        }
        * { box-sizing: border-box; }
        html { color-scheme: light dark; }
        body { margin: 0; background: var(--page); color: var(--text);
          font: 17px/1.6 system-ui, -apple-system, "Segoe UI", sans-serif; }
        a { color: var(--link); text-decoration: none; }
        a:hover { text-decoration: underline; }
        code, pre { font-family: ui-monospace, "SFMono-Regular", "DejaVu Sans Mono", Menlo, Consolas, monospace;
          font-size: 0.86em; }
        :not(pre) > code { background: var(--code-bg); padding: 0.1em 0.3em; border-radius: 4px; }
        pre { background: var(--code-bg); border: 1px solid var(--rule); border-radius: 6px; padding: 0.8em 1em;
          overflow-x: auto; line-height: 1.45; tab-size: 4; }
        .sidebar { position: fixed; top: 0; left: 0; bottom: 0; width: 19rem; overflow-y: auto;
          background: var(--side); border-right: 1px solid var(--rule); padding: 1rem; font-size: 0.9rem; }
        .book-title { display: block; font-weight: 700; font-size: 1.1rem; color: var(--text); margin-bottom: 0.8rem; }
        .sidebar ol { list-style: none; margin: 0; padding: 0; }
        .chapters > li { margin: 0.2rem 0; }
        .chapters > li > a { color: var(--text); display: block; padding-left: 1.7em; text-indent: -1.7em; }
        .chapters > li.current > a { font-weight: 700; }
        .sections { margin: 0.3rem 0 0.5rem 1.6rem !important; }
        .sections li { margin: 0.15rem 0; line-height: 1.35; }
        .letter { display: inline-block; min-width: 1.4em; margin-right: 0.3em; color: var(--muted); font-weight: 700;
          text-indent: 0; }
        .tag { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 0.85em; color: var(--muted); }
        .search { position: relative; margin-bottom: 1rem; }
        #search { width: 100%; padding: 0.4rem 0.6rem; border: 1px solid var(--rule); border-radius: 6px;
          background: var(--page); color: var(--text); font: inherit; }
        #results { position: absolute; z-index: 2; left: 0; right: 0; max-height: 60vh; overflow-y: auto;
          background: var(--page); border: 1px solid var(--rule); border-radius: 6px; margin-top: 0.2rem !important;
          box-shadow: 0 4px 16px rgba(0, 0, 0, 0.15); }
        #results li a { display: block; padding: 0.35rem 0.6rem; color: var(--text); }
        #results li a:hover, #results li a:focus { background: var(--side); text-decoration: none; }
        #results .where { display: block; color: var(--muted); font-size: 0.8em; }
        main { margin-left: 19rem; padding: 1.5rem 2.5rem 4rem; max-width: 60rem; }
        h1 { font-size: 2rem; line-height: 1.25; margin: 0.5rem 0 1rem; }
        h2 { font-size: 1.3rem; line-height: 1.3; margin: 0 0 0.5rem; }
        .section { border-top: 1px solid var(--rule); margin-top: 2rem; padding-top: 1rem; }
        .section:target { background: linear-gradient(var(--mark), transparent 6rem); }
        .file { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 0.85rem; color: var(--muted);
          margin: 0 0 0.5rem; }
        .meta { font-size: 0.85rem; color: var(--muted); }
        .meta .tests { margin-left: 1rem; }
        .pending, .lede { color: var(--muted); font-style: italic; }
        .toc { list-style: none; padding-left: 1.6rem; }
        .pager { display: flex; justify-content: space-between; margin: 1rem 0; font-size: 0.9rem; }
        .pager .next { margin-left: auto; }
        .k { color: var(--k); } .s { color: var(--s); } .c { color: var(--c); font-style: italic; }
        .n { color: var(--n); } .a { color: var(--a); } .d { color: var(--d); } .t { color: var(--t); }
        .source-header { position: sticky; top: 0; background: var(--side); border-bottom: 1px solid var(--rule);
          padding: 0.6rem 1rem; font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 0.9rem; }
        .listing { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 0.85rem; line-height: 1.45;
          padding: 0.5rem 0 3rem; tab-size: 4; }
        .line { white-space: pre; display: flex; }
        .line code { background: none; padding: 0; font-size: 1em; }
        .line:target { background: var(--mark); }
        .ln { flex: none; width: 4.5em; padding-right: 1em; text-align: right; color: var(--muted); user-select: none; }
        .range { border-left: 3px solid transparent; scroll-margin-top: 3rem; }
        .line { scroll-margin-top: 3rem; }
        .range:target { background: var(--mark); border-left-color: var(--link); }
        .back { display: block; padding-left: 5.5em; font-size: 0.8rem; }
        @media (max-width: 55rem) {
          .sidebar { position: static; width: auto; border-right: none; border-bottom: 1px solid var(--rule); }
          main { margin-left: 0; padding: 1rem; }
        }
        @media print {
          .sidebar, .pager, .search, .back { display: none; }
          main { margin: 0; padding: 0; max-width: none; }
          body { font-size: 11pt; background: #fff; color: #000; }
          a { color: inherit; }
          pre { white-space: pre-wrap; overflow: visible; break-inside: avoid; }
          h1, h2 { break-after: avoid; }
          .section { break-inside: auto; }
        }

        """

    /// The search box's code, appended to the index in book/html/search.js (W:630).
    /// Plain JavaScript with no dependencies, so it runs in any browser from the disk.
    static let searchCode = """
        (function () {
          "use strict";
          function matches(entry, words) {
            var haystack = (entry[0] + " " + entry[1] + " " + entry[4]).toLowerCase();
            return words.every(function (word) { return haystack.indexOf(word) >= 0; });
          }
          function rank(entry, words) {
            var head = (entry[0] + " " + entry[1]).toLowerCase();
            return words.filter(function (word) { return head.indexOf(word) >= 0; }).length;
          }
          function search(query) {
            var words = query.toLowerCase().split(/\\s+/).filter(Boolean);
            if (words.length === 0) { return []; }
            var found = WEAVE_INDEX.filter(function (entry) { return matches(entry, words); });
            found.sort(function (a, b) { return rank(b, words) - rank(a, words); });
            return found.slice(0, 20);
          }
          function show(list, entries) {
            list.textContent = "";
            entries.forEach(function (entry) {
              var item = document.createElement("li");
              var link = document.createElement("a");
              link.href = entry[2];
              var tag = document.createElement("span");
              tag.className = "tag";
              tag.textContent = entry[0] + " ";
              link.appendChild(tag);
              link.appendChild(document.createTextNode(entry[1]));
              var where = document.createElement("span");
              where.className = "where";
              where.textContent = entry[3];
              link.appendChild(where);
              item.appendChild(link);
              list.appendChild(item);
            });
            list.hidden = entries.length === 0;
          }
          document.addEventListener("DOMContentLoaded", function () {
            var input = document.getElementById("search");
            var list = document.getElementById("results");
            if (!input || !list) { return; }
            input.addEventListener("input", function () { show(list, search(input.value)); });
            input.addEventListener("keydown", function (event) {
              if (event.key === "Enter") {
                var first = list.querySelector("a");
                if (first) { window.location.href = first.href; }
              } else if (event.key === "Escape") {
                input.value = "";
                show(list, []);
              } else if (event.key === "ArrowDown") {
                var first = list.querySelector("a");
                if (first) { event.preventDefault(); first.focus(); }
              }
            });
            list.addEventListener("keydown", function (event) {
              var item = document.activeElement && document.activeElement.parentElement;
              if (!item || item.parentElement !== list) { return; }
              var next = event.key === "ArrowDown" ? item.nextElementSibling
                       : event.key === "ArrowUp" ? item.previousElementSibling : undefined;
              if (next === undefined) { return; }
              event.preventDefault();
              if (next) { next.firstChild.focus(); } else if (event.key === "ArrowUp") { input.focus(); }
            });
            var query = new URLSearchParams(window.location.search).get("q");
            if (query) { input.value = query; show(list, search(query)); }
          });
        })();

        """
}
/*:*/
