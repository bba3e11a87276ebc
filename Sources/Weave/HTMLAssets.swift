/*W:640 The stylesheet is written out as book/html/style.css. Its colours
are custom properties set twice: once for light pages and once inside a
`prefers-color-scheme: dark` rule, so the book follows the reader's system
without a switch of its own. The type is the system's own, because fonts
fetched from elsewhere would break the promise of a book that works offline.

A print rule hides what only makes sense on a screen (the sidebar, the
search box, the previous and next links), lets long lines of code wrap
instead of being cut off at the margin, and keeps a section's heading with
the text that follows it. A long excerpt may split across pages, between
lines: each line of an excerpt is an element of its own, carrying its own
indentation (`--i`, in characters), so the wrapped part of a line hangs four
characters in from the line's own text and reads as the one line it is.

On a narrow screen, a phone's 390 pixels, the text comes first: the sidebar
hides behind a *Contents* button at the top of the page, a link to the
sidebar's own anchor that the stylesheet shows full-screen while it is the
target, so it works without a script, and its × leads back. Tables and
code scroll sideways in their own boxes rather than widening the page.
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
        #results .more { padding: 0.35rem 0.6rem; color: var(--muted); font-size: 0.85em; font-style: italic; }
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
        table { border-collapse: collapse; margin: 1rem 0; display: block; max-width: 100%; overflow-x: auto;
          font-size: 0.92em; line-height: 1.4; }
        th, td { border: 1px solid var(--rule); padding: 0.3em 0.6em; vertical-align: top; text-align: left; }
        th[align="center"], td[align="center"] { text-align: center; }
        th[align="right"], td[align="right"] { text-align: right; }
        thead th { background: var(--side); }
        th p, td p { margin: 0; }
        .menu, .close { display: none; }
        .local { margin: 1rem 0 0.3rem; font-weight: 700; }
        main.source { max-width: none; padding: 0; }
        .source-page .listing { overflow-x: auto; }
        .source-page .line { min-width: max-content; }
        @media (max-width: 55rem) {
          main, main.source { margin-left: 0; padding: 1rem; }
          main.source { padding: 0; }
          .sidebar { display: none; }
          .sidebar:target { display: block; z-index: 5; width: auto; right: 0; border-right: none; }
          .menu { display: inline-block; margin: 0.6rem 1rem 0; padding: 0.3rem 0.8rem; border: 1px solid var(--rule);
            border-radius: 6px; background: var(--side); color: var(--text); font-size: 0.9rem; }
          .source-page .menu { margin: 0.4rem; }
          .close { display: block; float: right; font-size: 1.6rem; line-height: 1; color: var(--text); }
          pre { font-size: 0.8em; }
        }
        @media print {
          .sidebar, .pager, .search, .back, .menu { display: none; }
          main { margin: 0; padding: 0; max-width: none; }
          body { font-size: 11pt; background: #fff; color: #000; }
          a { color: inherit; }
          pre { white-space: pre-wrap; overflow: visible; break-inside: auto; }
          pre .cl { display: block; --hang: calc(var(--i, 0) * 1ch + 4ch); padding-left: var(--hang);
            text-indent: calc(-1 * var(--hang)); break-inside: avoid; }
          table { display: table; }
          h1, h2 { break-after: avoid; }
          .section { break-inside: auto; }
        }

        """

    /*W:645 The search box's script is small enough to read whole. Every word of
    the query must occur somewhere in a section's tag, title or body for it to
    match at all; the matches are then ranked, twenty points for a word in the
    tag or title and one for each time it occurs in the body (counted up to ten),
    so a section about a thing beats one that only mentions it. The first twenty
    are listed and the rest are counted, with a hint to add a word. Enter follows
    the first result, Escape clears the box, and the arrow keys walk the list, all
    without a library, so it runs from the disk in any browser. */
    /// The search box's code, appended to the index in book/html/search.js (W:630).
    /// Plain JavaScript with no dependencies, so it runs in any browser from the disk.
    static let searchCode = """
        (function () {
          "use strict";
          function matches(entry, words) {
            var haystack = (entry[0] + " " + entry[1] + " " + entry[4]).toLowerCase();
            return words.every(function (word) { return haystack.indexOf(word) >= 0; });
          }
          function occurrences(text, word) {
            var count = 0, at = text.indexOf(word);
            while (at >= 0 && count < 10) { count += 1; at = text.indexOf(word, at + word.length); }
            return count;
          }
          function rank(entry, words) {
            // A word in the tag or title counts most; then how often each word occurs in the body,
            // up to ten times, so a section about a thing beats one that mentions it once.
            var head = (entry[0] + " " + entry[1]).toLowerCase();
            var body = entry[4].toLowerCase();
            return words.reduce(function (score, word) {
              return score + (head.indexOf(word) >= 0 ? 20 : 0) + occurrences(body, word);
            }, 0);
          }
          var LIMIT = 20;
          function search(query) {
            var words = query.toLowerCase().split(/\\s+/).filter(Boolean);
            if (words.length === 0) { return { shown: [], more: 0 }; }
            var found = WEAVE_INDEX.filter(function (entry) { return matches(entry, words); });
            var scores = new Map(found.map(function (entry) { return [entry, rank(entry, words)]; }));
            // Ties keep book order: the sort is stable.
            found.sort(function (a, b) { return scores.get(b) - scores.get(a); });
            return { shown: found.slice(0, LIMIT), more: Math.max(0, found.length - LIMIT) };
          }
          var root = document.body ? document.body.getAttribute("data-root") || "" : "";
          function show(list, result) {
            var entries = result.shown;
            list.textContent = "";
            entries.forEach(function (entry) {
              var item = document.createElement("li");
              var link = document.createElement("a");
              link.href = root + entry[2];
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
            if (result.more > 0) {
              var more = document.createElement("li");
              more.className = "more";
              more.textContent = "and " + result.more + " more; add a word to narrow the search";
              list.appendChild(more);
            }
            list.hidden = entries.length === 0;
          }
          document.addEventListener("DOMContentLoaded", function () {
            var input = document.getElementById("search");
            var list = document.getElementById("results");
            if (!input || !list) { return; }
            root = document.body.getAttribute("data-root") || "";
            input.addEventListener("input", function () { show(list, search(input.value)); });
            input.addEventListener("keydown", function (event) {
              if (event.key === "Enter") {
                var first = list.querySelector("a");
                if (first) { window.location.href = first.href; }
              } else if (event.key === "Escape") {
                input.value = "";
                show(list, { shown: [], more: 0 });
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
              var target = next && next.querySelector("a");
              if (target) { target.focus(); } else if (!next && event.key === "ArrowUp") { input.focus(); }
            });
            var query = new URLSearchParams(window.location.search).get("q");
            if (query) { input.value = query; show(list, search(query)); }
          });
        })();

        """
}
/*:*/
