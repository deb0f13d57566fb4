"""``vmfleet report DIR``: a static site of the fleet's history, read from the registry.

Plain HTML and one style sheet, no JavaScript, relative links only, so ``index.html`` opens
from ``file://`` in any browser and the folder can be copied to any web server:

- ``index.html``: the systems (their latest check results), the fleet (which VM runs which
  generation where, since when, and how it differs from the fleet file), the applies;
- ``systems/NAME.html``: a system's generations as a timeline, its checks as a heat-map
  (generation × check date), and every finding as text;
- ``diffs/check-ID.html``, ``diffs/apply-ID-VM.html``: a page per diff a check or an apply made.

model.py reads, html.py escapes and lays out, pages.py writes each page, site.py writes the
folder.
"""
