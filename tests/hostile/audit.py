"""What a built page must never contain, checked with the standard library's HTML parser.

Shared by the hostile corpus, the fuzz test and the policy test, so "safe" means one thing: no
script but the site's own files, no event handler, no URL that runs code, nothing loaded from
another site, no inline style or data, and a strict Content-Security-Policy and referrer policy.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

SAFE_LINK_SCHEMES = frozenset({"http", "https", "mailto"})
# Attributes whose value a browser treats as a URL to follow or fetch.
URL_ATTRIBUTES = frozenset({
    "href", "src", "action", "formaction", "xlink:href", "poster", "data", "background", "ping",
    "cite", "longdesc", "manifest", "codebase", "lowsrc", "dynsrc", "icon", "srcset", "imagesrcset",
})
# Elements that fetch what their URL attribute names as soon as the page loads.
FETCHING = {
    "img": ("src", "srcset"), "script": ("src",), "source": ("src", "srcset"), "video": ("src", "poster"),
    "audio": ("src",), "track": ("src",), "input": ("src",), "image": ("href", "xlink:href"),
    "use": ("href", "xlink:href"), "link": ("href", "imagesrcset"),
}
LINK_RELS_FETCHED = {"stylesheet", "icon", "preload", "modulepreload", "prefetch", "manifest",
                     "apple-touch-icon", "mask-icon", "dns-prefetch", "preconnect"}
FORBIDDEN_ELEMENTS = frozenset({
    "iframe", "frame", "frameset", "object", "embed", "applet", "base", "style", "foreignobject",
    "portal", "math", "template", "noscript", "xmp", "plaintext", "listing",
})
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*):")
_C0_OR_SPACE = "".join(chr(c) for c in range(0x21))


def url_scheme(value: str) -> str:
    """The scheme a browser sees: it strips C0 controls and spaces around a URL and drops tabs and
    newlines inside it, so `java\\tscript:` is javascript:. Empty for relative URLs."""
    cleaned = re.sub(r"[\t\n\r]", "", value.strip(_C0_OR_SPACE))
    m = _SCHEME.match(cleaned)
    return m.group(1).lower() if m else ""


def is_same_site(value: str) -> bool:
    """A relative URL (no scheme, not protocol-relative): it loads from the site itself."""
    cleaned = re.sub(r"[\t\n\r]", "", value.strip(_C0_OR_SPACE)).replace("\\", "/")
    return not url_scheme(value) and not cleaned.startswith("//")


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.findings: list[str] = []
        self.scripts: list[dict] = []
        self.metas: list[dict[str, str]] = []
        self.text: list[str] = []
        self._open_script: dict | None = None
        self._skip_text = 0  # inside <head>, <script> or <style>

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {name: (value or "") for name, value in attrs}
        where = f"<{tag}>"
        if tag in FORBIDDEN_ELEMENTS:
            self.findings.append(f"{where} element")
        for name, value in a.items():
            if name.startswith("on"):
                self.findings.append(f"{where} event handler {name}={value!r}")
            if name in ("style", "srcdoc"):
                self.findings.append(f"{where} inline {name} attribute {value!r}")
            if name in URL_ATTRIBUTES and not name.endswith("srcset"):
                scheme = url_scheme(value)
                if scheme and scheme not in SAFE_LINK_SCHEMES:
                    self.findings.append(f"{where} {name} with the scheme {scheme}: {value!r}")
                if value.strip().lower().startswith("http://") and tag != "a":
                    self.findings.append(f"{where} {name} loads over plain http: {value!r}")
        rels = set(a.get("rel", "").lower().split())
        fetched = FETCHING.get(tag, ())
        if tag == "link" and not rels & LINK_RELS_FETCHED:
            fetched = ()
        for name in fetched:
            if name in a:
                srcset = name.endswith("srcset")
                urls = [u.strip().split(" ")[0] for u in a[name].split(",")] if srcset else [a[name]]
                for url in urls:
                    if not is_same_site(url):
                        self.findings.append(f"{where} {name} loads from another site: {url!r}")
        if tag == "meta":
            self.metas.append(a)
            if a.get("http-equiv", "").lower() not in ("", "content-security-policy"):
                self.findings.append(f"<meta http-equiv={a['http-equiv']!r}>")
        if tag == "script":
            self._open_script = {"attrs": a, "body": ""}
            self._skip_text += 1
        elif tag in ("head", "style"):
            self._skip_text += 1

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag == "script":
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._open_script is not None:
            self.scripts.append(self._open_script)
            self._open_script = None
            self._skip_text -= 1
        elif tag in ("head", "style") and self._skip_text:
            self._skip_text -= 1

    def handle_data(self, data: str) -> None:
        if self._open_script is not None:
            self._open_script["body"] += data
        elif not self._skip_text:
            self.text.append(data)


def parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    page.close()
    return page


def audit_page(html: str) -> list[str]:
    """Everything on the page that could run script, load from elsewhere or weaken the policy."""
    page = parse(html)
    findings = list(page.findings)
    for script in page.scripts:
        attrs, body = script["attrs"], script["body"]
        src = attrs.get("src", "")
        if body.strip() or not src:
            findings.append(f"inline <script> {body.strip()[:80]!r}")
        elif not is_same_site(src):
            findings.append(f"<script> from another site: {src!r}")
        if attrs.get("type", "module") not in ("module", "text/javascript"):
            findings.append(f"<script type={attrs['type']!r}> (inline data)")
    # The parser and a browser could disagree about where a tag starts; a raw count cannot.
    raw_scripts = len(re.findall(r"<script\b", html, re.IGNORECASE))
    if raw_scripts != len(page.scripts):
        findings.append(f"{raw_scripts} '<script' in the source but {len(page.scripts)} script elements")
    findings += policy_findings(page)
    return findings


def policy_findings(page: _Page) -> list[str]:
    """The page's own Content-Security-Policy and referrer policy, as meta elements."""
    findings = []
    csp = [m.get("content", "") for m in page.metas
           if m.get("http-equiv", "").lower() == "content-security-policy"]
    if len(csp) != 1:
        findings.append(f"{len(csp)} Content-Security-Policy meta elements, not one")
    else:
        directives = {d.split()[0]: d.split()[1:] for d in csp[0].split(";") if d.strip()}
        if "'unsafe-inline'" in csp[0] or "'unsafe-eval'" in csp[0] or "*" in csp[0].split():
            findings.append(f"Content-Security-Policy allows inline or any source: {csp[0]!r}")
        if directives.get("default-src") != ["'none'"]:
            findings.append(f"Content-Security-Policy default-src is not 'none': {csp[0]!r}")
        for name in ("script-src", "style-src", "img-src"):
            sources = directives.get(name, [])
            if any(s not in ("'self'", "'wasm-unsafe-eval'") for s in sources):
                findings.append(f"Content-Security-Policy {name} allows more than the site: {sources}")
        if directives.get("base-uri") != ["'none'"]:
            findings.append("Content-Security-Policy does not forbid <base>")
    referrer = [m.get("content", "") for m in page.metas if m.get("name", "").lower() == "referrer"]
    if referrer not in (["no-referrer"], ["same-origin"], ["strict-origin"]):
        findings.append(f"referrer policy {referrer} is not strict")
    return findings


def visible_text(html: str) -> str:
    """The page's body text with whitespace collapsed, as a visitor reads it."""
    return " ".join("".join(parse(html).text).split())
