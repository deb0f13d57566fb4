"""vmfleet.scheme: reading Guile, channel files and operating-system declarations.

The configs below are written in the style of Guix's own gnu/system/examples/*.tmpl (bare-bones,
desktop, lightweight-desktop, vm-image) and of what users derive from them.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vmfleet.errors import SchemeError
from vmfleet.guix import reader
from vmfleet.guix.channel_files import (
    DEFAULT_GUIX_CHANNEL,
    GUIX_INTRODUCTION,
    GUIX_URL,
    Channel,
    Introduction,
    canonical_channel_url,
    parse_channels,
)
from vmfleet.guix.os_config import ServiceSummary, local_files, summarize_os
from vmfleet.guix.reader import Char, Form, Keyword, Opaque, Symbol, Tagged, Vector, read_forms, render

SYSTEMS = Path(__file__).resolve().parents[2] / "systems"
COMMIT = "dc4c48f10281007a0ab3541b8a64198c60c6d5b0"
S = Symbol


def read1(text: str):
    forms = read_forms(text, "t.scm")
    assert len(forms) == 1, forms
    return forms[0]


# --- the reader -------------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("(a b)", [S("a"), S("b")]),
    ("[a b]", [S("a"), S("b")]),
    ("'guix", [S("quote"), S("guix")]),
    ("`(a ,b ,@c)", [S("quasiquote"), [S("a"), [S("unquote"), S("b")],
                                       [S("unquote-splicing"), S("c")]]]),
    ("#~(x #$y #$@z #+w #+@v)", [S("gexp"), [S("x"), [S("ungexp"), S("y")],
                                            [S("ungexp-splicing"), S("z")],
                                            [S("ungexp-native"), S("w")],
                                            [S("ungexp-native-splicing"), S("v")]]]),
    ("#'x", [S("syntax"), S("x")]),
    ("#(1 2 \"three\")", Vector([1, 2, "three"])),
    ("#vu8(1 2 255)", Tagged("vu8", (1, 2, 255))),
    ("#t", True), ("#true", True), ("#f", False), ("#false", False), ("#T", True),
    ("42", 42), ("-7", -7), ("1.5", 1.5), ("1e3", 1000.0), (".5", 0.5), ("1/3", Fraction(1, 3)),
    ("#x1F", 31), ("#b101", 5), ("+inf.0", math.inf),
    ("1+", S("1+")), ("-", S("-")), ("...", S("...")), ("nil", S("nil")), ("t", S("t")),
    ("#:recursive?", Keyword("recursive?")),
    ("#\\a", Char("a", "a")), ("#\\space", Char("space", " ")), ("#\\x41", Char("A", "A")),
    ("#\\newline", Char("newline", "\n")), ("#\\(", Char("(", "(")), ("#\\)", Char(")", ")")),
    ("#\\nl", Char("newline", "\n")), ("#\\101", Char("A", "A")),
    ("#{foo bar}#", S("foo bar")),
    ("#nil", Opaque("#nil")), ("#*1011", Opaque("#*1011")),
    ("(a . b)", [S("a"), S("."), S("b")]),
])
def test_reads_guile_data(text, expected):
    datum = read1(text)
    assert datum == expected
    assert type(datum) is type(expected) or isinstance(datum, Form)


def test_symbols_and_strings_are_distinguishable():
    sym, string = read1("(nginx \"nginx\")")
    assert isinstance(sym, Symbol) and sym == Symbol("nginx")
    assert type(string) is str and string == "nginx"
    assert sym != string


@pytest.mark.parametrize("text, value", [
    (r'"a\nb\tc"', "a\nb\tc"),
    (r'"say \"hi\""', 'say "hi"'),
    (r'"back\\slash"', "back\\slash"),
    (r'"esc \x1b;[0m"', "esc \x1b[0m"),      # R7RS hex escape
    (r'"\x41BC"', "ABC"),                     # Guile's two-digit \xHH
    (r'"caf\u00e9"', "café"),
    ('"one \\\n     line"', "one line"),      # backslash-newline continues the line
    (r'"odd \q escape"', "odd \\q escape"),   # unknown escape: kept, not a crash
    ('"multi\nline"', "multi\nline"),
    ('";; not a comment"', ";; not a comment"),
    ('"(unbalanced"', "(unbalanced"),
])
def test_string_escapes(text, value):
    assert read1(text) == value


def test_comments_of_every_kind_are_dropped():
    text = """#!/usr/bin/env -S guile --no-auto-compile
!#
;;; header
#| a block comment
   #| nested |#
   (with (parens |#
(a ; end of line
 #;(b c) d #; #;e f g  ; two datum comments in a row drop e and f
 #|inline|# h)
"""
    assert read1(text) == [S("a"), S("d"), S("g"), S("h")]


def test_datum_comment_inside_quasiquote_and_at_top_level():
    forms = read_forms("#;(ignored form)\n`(a #;,b ,c)\n", "t.scm")
    assert forms == [[S("quasiquote"), [S("a"), [S("unquote"), S("c")]]]]


def test_forms_know_where_they_start():
    forms = read_forms(";; x\n(define a\n  (list 1\n        (b)))\n'(c)\n", "t.scm")
    define, quoted = forms
    assert (define.line, define.col) == (2, 1)
    assert (define[2].line, define[2].col) == (3, 3)
    assert (define[2][2].line, define[2][2].col) == (4, 9)
    assert (quoted.line, quoted.col) == (5, 1)       # the quote's own position
    assert (quoted[1].line, quoted[1].col) == (5, 2)


@pytest.mark.parametrize("text, where, message", [
    ("(a (b c)", "1:1", "unclosed '('"),
    ("(define x\n  (list 1 2)\n", "1:1", "unclosed '('"),
    ("(a)\n(b))\n", "2:4", "unexpected ')'"),
    ("(a\n  \"never closed)\n", "2:3", "unterminated string"),
    ("(a ')", "1:4", "quote `'` is not followed by a datum"),
    ("(a\n  ,@)", "2:3", "unquote-splicing `,@` is not followed by a datum"),
    ("(a #;)", "1:4", "datum comment `#;` is not followed by a datum"),
    ("(x '#;y)", "1:4", "quote `'` is not followed by a datum"),
    ("(a]", "1:3", "']' closes the '(' opened at 1:1"),
    ("ok\n  #| open\n |# #| again", "3:5", "unterminated block comment '#|'"),
    ("#!/bin/guile\n(a)", "1:1", "unterminated block comment '#!'"),
    ("(a #\\", "1:4", "end of file after '#\\'"),
    ("(a #{b c)", "1:4", "unterminated '#{' symbol"),
    ("(café 'naïve \"é", "1:14", "unterminated string"),  # columns count characters
])
def test_malformed_input_points_at_line_and_column(text, where, message):
    with pytest.raises(SchemeError) as e:
        read_forms(text, "conf/web.scm")
    assert e.value.message.startswith(f"conf/web.scm:{where}: {message}"), e.value.message
    assert e.value.hint


def test_nesting_limit_is_an_error_not_a_crash():
    with pytest.raises(SchemeError, match="nesting deeper than"):
        read_forms("(" * 5000 + ")" * 5000, "deep.scm")
    with pytest.raises(SchemeError, match="nesting deeper than"):
        read_forms("'" * 5000 + "x", "deep.scm")
    assert read_forms("(" * 100 + ")" * 100, "ok.scm")


def test_render_is_canonical_one_line_text():
    text = """(service openssh-service-type
   (openssh-configuration
     (authorized-keys   `(("root" ,(local-file "k.pub"))))   ; comment
     (banner "hi\\n\\"there\\"")
     (x #(1 2) #\\space #:kw #t 1/2 [a b])))"""
    assert render(read1(text)) == (
        "(service openssh-service-type (openssh-configuration"
        " (authorized-keys `((\"root\" ,(local-file \"k.pub\"))))"
        " (banner \"hi\\n\\\"there\\\"\") (x #(1 2) #\\space #:kw #t 1/2 (a b))))")


def test_render_escapes_symbols_that_would_not_read_back():
    assert render(S("foo bar")) == "#{foo bar}#"
    assert render(S("42")) == "#{42}#"
    assert render([S("unquote"), S("@x")]) == ", @x"
    assert read1(", @x") == [S("unquote"), S("@x")]
    assert render(S("a}#\nb\\")) == "#{a\\x7d;#\\xa;b\\x5c;}#"
    assert read1(r"#{a\x7d;#\xa;b\x5c;}#") == S("a}#\nb\\")


def test_sexpdata_alone_cannot_read_what_we_read():
    # The reason for the pre-pass: sexpdata 1.0.2 alone raises on quasiquote with unquote.
    import sexpdata
    with pytest.raises(Exception):  # noqa: B017 - sexpdata raises AssertionError here
        sexpdata.loads('`(("root" ,key))')
    assert read1('`(("root" ,key))') == [S("quasiquote"), [["root", [S("unquote"), S("key")]]]]


# --- channels ---------------------------------------------------------------------------------

DESCRIBE_OUTPUT = """(list (channel
        (name 'guix)
        (url "https://git.savannah.gnu.org/git/guix.git")
        (branch "master")
        (commit
          "60c97924e9519361494aaf0686e28eb831a42315")
        (introduction
          (make-channel-introduction
            "9edb3f66fd807b096b48283debdcddccfea34bad"
            (openpgp-fingerprint
              "BBB0 2DDF 2CEA F6A8 0D1D  E643 A2A0 6DF2 A33A 54FA")))))
"""

NONGUIX = """(channel
   (name 'nonguix)
   (url "https://gitlab.com/nonguix/nonguix")
   (commit "0123456789abcdef0123456789abcdef01234567")
   (introduction
    (make-channel-introduction
     "897c1a470da759236cc11798f4e0a5f7d4d59fbc"
     (openpgp-fingerprint
      "2A39 3FFF 68F4 EF7A 3D29  12AF 6F51 20A0 22FB B2D5"))))"""


def test_canonical_describe_output_is_pinned_with_introduction():
    [guix] = parse_channels(DESCRIBE_OUTPUT, "channels.scm")
    assert guix == Channel("guix", GUIX_URL, "master", "60c97924e9519361494aaf0686e28eb831a42315",
                           GUIX_INTRODUCTION)
    assert guix.pinned
    assert guix.to_dict() == {
        "name": "guix", "url": GUIX_URL, "branch": "master",
        "commit": "60c97924e9519361494aaf0686e28eb831a42315",
        "introduction": {"commit": "9edb3f66fd807b096b48283debdcddccfea34bad",
                         "fingerprint": "BBB0 2DDF 2CEA F6A8 0D1D  E643 A2A0 6DF2 A33A 54FA"}}


def test_older_output_without_branch_or_introduction():
    text = """;; guix describe -f channels-sans-intro, 2020
(list (channel
        (name 'guix)
        (url "https://git.savannah.gnu.org/git/guix.git")
        (commit "b94cf161d066b0fc1f3830ac38fbc98597a1f922")))"""
    [guix] = parse_channels(text, "c.scm")
    assert (guix.branch, guix.introduction, guix.pinned) == (None, None, True)


def test_default_channels_is_the_unpinned_guix_channel():
    assert parse_channels("%default-channels\n", "c.scm") == [DEFAULT_GUIX_CHANNEL]
    guix = DEFAULT_GUIX_CHANNEL
    assert (guix.name, guix.url, guix.branch, guix.commit) == ("guix", GUIX_URL, "master", None)
    assert not guix.pinned


def test_cons_onto_default_channels():
    chans = parse_channels(f"(cons {NONGUIX}\n      %default-channels)", "c.scm")
    assert [c.name for c in chans] == ["nonguix", "guix"]
    assert chans[0].pinned and not chans[1].pinned
    assert chans[0].introduction == Introduction(
        "897c1a470da759236cc11798f4e0a5f7d4d59fbc",
        "2A39 3FFF 68F4 EF7A 3D29  12AF 6F51 20A0 22FB B2D5")


def test_cons_star_and_append():
    other = '(channel (name \'other) (url "https://example.org/other.git") (branch "main"))'
    cons_star = parse_channels(f"(cons* {NONGUIX} {other} %default-channels)", "c.scm")
    append = parse_channels(f"(append (list {NONGUIX} {other}) %default-channels)", "c.scm")
    assert cons_star == append
    assert [(c.name, c.branch, c.pinned) for c in append] == [
        ("nonguix", None, True), ("other", "main", False), ("guix", "master", False)]


def test_inherit_default_guix_channel_with_a_commit():
    text = f"""(list (channel
        (inherit %default-guix-channel)
        (commit "{COMMIT}")))"""
    [guix] = parse_channels(text, "c.scm")
    assert guix == Channel("guix", GUIX_URL, "master", COMMIT, GUIX_INTRODUCTION)


def test_file_with_modules_and_definitions_before_the_list():
    text = f"""(use-modules (guix channels) (guix ci))

(define %my-guix
  (channel
    (inherit %default-guix-channel)
    (url "https://codeberg.org/guix/guix.git")
    (commit "{COMMIT}")))

(define %extras (list {NONGUIX}))

;; the last form is what guix evaluates
(append %extras (list %my-guix))
"""
    chans = parse_channels(text, "channels.scm")
    assert [c.name for c in chans] == ["nonguix", "guix"]
    assert chans[1].url == "https://codeberg.org/guix/guix.git" and chans[1].commit == COMMIT
    assert chans[1].canonical_url == GUIX_URL


def test_quasiquoted_channel_list():
    chans = parse_channels(f"`(,{NONGUIX} ,@%default-channels)", "c.scm")
    assert [c.name for c in chans] == ["nonguix", "guix"]


def test_channel_with_substitutes_available_is_unpinned():
    text = """(use-modules (guix ci))
(list (channel-with-substitutes-available
       %default-guix-channel
       "https://ci.guix.gnu.org"))"""
    [guix] = parse_channels(text, "c.scm")
    assert (guix.name, guix.url, guix.pinned) == ("guix", GUIX_URL, False)


def test_windows_line_endings():
    s = summarize_os(BARE_BONES.replace("\n", "\r\n"), "crlf.scm")
    assert s.host_name == "komputilo" and s.packages == ("screen", "%base-packages")
    with pytest.raises(SchemeError, match=r"^crlf.scm:2:3: unclosed"):
        read_forms("(a\r\n  (b\r\n", "crlf.scm")


def test_example_channels_file_is_pinned():
    [guix] = parse_channels((SYSTEMS / "channels.scm").read_text(), "systems/channels.scm")
    assert guix == Channel("guix", GUIX_URL, "master", COMMIT, GUIX_INTRODUCTION)
    assert "guix describe -f channels" in (SYSTEMS / "channels.scm").read_text()


@pytest.mark.parametrize("text, where, message", [
    ("(use-modules (gnu))\n(operating-system\n  (host-name \"web\"))", "2:1", "not a channel list"),
    ("(channel (name 'guix) (url \"u\"))", "1:1", "a single channel, not a list"),
    ("(list (channel (name 'guix)\n  (url (string-append \"https://\" host))))", "2:3",
     "channel url must be a string"),
    ("(list (channel (name 'x)))", "1:7", "channel without url"),
    ("(list (channel (url \"u\")))", "1:7", "channel without name"),
    ("(list 'guix)", "1:7", "not a channel"),
    ("(define a 1)\n\n  %my-channels", "3:3", "not a channel list: unknown variable"),
    ("(list (channel (name 'g) (url \"u\") (introduction \"x\")))", "1:36",
     "channel introduction must be"),
])
def test_not_a_channel_list_is_an_error_with_location(text, where, message):
    with pytest.raises(SchemeError) as e:
        parse_channels(text, "channels.scm")
    assert e.value.message.startswith(f"channels.scm:{where}: {message}"), e.value.message
    assert "guix describe -f channels" in e.value.hint


def test_empty_channels_file():
    with pytest.raises(SchemeError, match=r"^channels.scm: no channel list found"):
        parse_channels(";; nothing here\n", "channels.scm")


@pytest.mark.parametrize("url", [
    "https://git.savannah.gnu.org/git/guix.git", "https://git.savannah.gnu.org/git/guix",
    "https://codeberg.org/guix/guix.git", "https://codeberg.org/guix/guix/",
    "https://git.guix.gnu.org/guix.git", "HTTPS://Git.Guix.GNU.org/guix.git",
])
def test_the_guix_urls_are_one_channel(url):
    assert canonical_channel_url(url) == GUIX_URL


def test_other_urls_stay_distinct():
    assert canonical_channel_url("https://gitlab.com/nonguix/nonguix/") == \
        "https://gitlab.com/nonguix/nonguix"
    assert canonical_channel_url("https://example.org/guix.git") != GUIX_URL


# --- operating-system summaries ----------------------------------------------------------------

BARE_BONES = """;; -*- mode: scheme; -*-
;; A bare-bones server, in the style of Guix's bare-bones.tmpl.
#| Notes:
   (this block comment has (unbalanced parens and "quotes
|#
(use-modules (gnu))
(use-service-modules networking ssh)
(use-package-modules screen ssh)

(operating-system
  (host-name "komputilo")
  (timezone "Europe/Berlin")
  (locale "en_US.utf8")

  ;; Boot in "legacy" BIOS mode, assuming /dev/sdX is the
  ;; target hard disk, and "my-root" is the label of the target
  ;; root file system.
  (bootloader (bootloader-configuration
                (bootloader grub-bootloader)
                (targets '("/dev/sdX"))))
  (file-systems (cons (file-system
                        (device (file-system-label "my-root"))
                        (mount-point "/")
                        (type "ext4"))
                      %base-file-systems))

  (users (cons (user-account
                (name "alice")
                (comment "Bob's sister")
                (group "users")
                (supplementary-groups '("wheel" "audio" "video")))
               %base-user-accounts))

  ;; Globally-installed packages.
  (packages (cons screen %base-packages))

  (services (append (list (service dhcp-client-service-type)
                          (service openssh-service-type
                                   (openssh-configuration
                                    (openssh openssh-sans-x)
                                    (port-number 2222))))
                    %base-services)))
"""


def test_bare_bones_server():
    s = summarize_os(BARE_BONES, "bare-bones.scm")
    assert (s.host_name, s.timezone, s.locale) == ("komputilo", "Europe/Berlin", "en_US.utf8")
    assert s.bootloader == "grub-bootloader" and s.kernel is None
    assert s.users == ("alice", "%base-user-accounts")
    assert s.packages == ("screen", "%base-packages")
    assert s.services == (
        ServiceSummary("dhcp-client-service-type", ""),
        ServiceSummary("openssh-service-type",
                       "(openssh-configuration (openssh openssh-sans-x) (port-number 2222))"),
        ServiceSummary("%base-services", "", "base"),
    )
    assert s.authorized_keys == () and s.local_files == ()
    assert list(s.fields) == ["host-name", "timezone", "locale", "bootloader", "file-systems",
                              "users", "packages", "services"]
    assert s.fields["bootloader"] == ("(bootloader-configuration (bootloader grub-bootloader)"
                                      " (targets '(\"/dev/sdX\")))")
    assert s.fields["host-name"] == '"komputilo"'


DESKTOP = """;; A desktop with Xfce, in the style of desktop.tmpl, with local changes.
(use-modules (gnu) (gnu system nss) (guix utils))
(use-service-modules desktop sddm xorg)
(use-package-modules certs gnome)

(define %substitute-key (local-file "./keys/substitutes.example.pub"))

(operating-system
  (host-name "antelope")
  (timezone "Europe/Paris")
  (locale "fr_FR.utf8")
  (kernel linux-libre-lts)
  (keyboard-layout (keyboard-layout "fr" "bepo"))

  (bootloader (bootloader-configuration
                (bootloader grub-efi-bootloader)
                (targets '("/boot/efi"))
                (keyboard-layout keyboard-layout)))

  (file-systems (append
                 (list (file-system
                         (device (file-system-label "my-root"))
                         (mount-point "/")
                         (type "ext4"))
                       (file-system
                         (device (uuid "1234-ABCD" 'fat))
                         (mount-point "/boot/efi")
                         (type "vfat")))
                 %base-file-systems))

  (users (cons* (user-account
                  (name "bob")
                  (group "users")
                  (supplementary-groups '("wheel" "netdev" "audio" "video")))
                (user-account
                  (name "carol")
                  (group "users"))
                %base-user-accounts))

  (packages (append (map specification->package
                         '("emacs" "git" "nss-certs"))
                    (list (specification->package+output "git:send-email")
                          (list isc-bind "utils")
                          gvfs)
                    %base-packages))

  (services (append (list (service xfce-desktop-service-type)
                          #;(service gnome-desktop-service-type)
                          (set-xorg-configuration
                           (xorg-configuration
                            (keyboard-layout keyboard-layout))))
                    (modify-services %desktop-services
                      (delete gdm-service-type)
                      (guix-service-type config =>
                        (guix-configuration
                          (inherit config)
                          (substitute-urls
                           (append (list "https://substitutes.example.org")
                                   %default-substitute-urls))
                          (authorized-keys
                           (append (list %substitute-key)
                                   %default-authorized-guix-keys)))))))

  ;; Allow resolution of '.local' host names with mDNS.
  (name-service-switch %mdns-host-lookup-nss))
"""


def test_desktop_with_modify_services_and_map():
    s = summarize_os(DESKTOP, "desktop.scm")
    assert s.kernel == "linux-libre-lts" and s.bootloader == "grub-efi-bootloader"
    assert s.users == ("bob", "carol", "%base-user-accounts")
    assert s.packages == ("emacs", "git", "nss-certs", "git:send-email", "isc-bind:utils", "gvfs",
                          "%base-packages")
    types = [(x.type, x.kind) for x in s.services]
    assert types == [
        ("xfce-desktop-service-type", "service"),         # gnome is commented out with #;
        ("set-xorg-configuration", "other"),
        ("%desktop-services", "base"),
        ("gdm-service-type", "deleted"),
        ("guix-service-type", "modified"),
    ]
    assert s.services[4].config.startswith("(guix-configuration (inherit config) (substitute-urls")
    # guix's authorized-keys are substitute keys, not SSH keys
    assert s.authorized_keys == ()
    assert s.local_files == ("./keys/substitutes.example.pub",)
    assert s.fields["name-service-switch"] == "%mdns-host-lookup-nss"


VM_IMAGE = r""";;; A VM image with a message of the day, keys, a cron job and a let.
(use-modules (gnu) (guix gexp) (ice-9 match))
(use-service-modules mcron networking ssh)
(use-package-modules bootloaders nvi)

(define vm-image-motd (plain-file "motd" "
\x1b;[1;37mThis is the GNU system.  Welcome!\x1b;[0m

Set a password for 'root', then \"guix pull\".
"))

(define garbage-collector-job
  ;; Collect garbage at 3 AM every day.
  #~(job "0 3 * * *" (string-append #$guix "/bin/guix gc -F 1G")))

(define (key-for user)
  (local-file (string-append "keys/" user ".pub")))

(let ((admin-key (local-file "keys/admin.pub"))
      (separator #\,))
  (operating-system
    (host-name "gnu")
    (timezone "Etc/UTC")
    (locale "en_US.utf8")
    (firmware '())

    (bootloader (bootloader-configuration
                 (bootloader grub-bootloader)
                 (targets '("/dev/vda"))
                 (terminal-outputs '(console))))
    (file-systems (cons (file-system
                          (mount-point "/")
                          (device "/dev/vda1")
                          (type "ext4"))
                        %base-file-systems))

    (users %base-user-accounts)
    (packages (cons* nvi
                     (specification->package "curl")
                     %base-packages))

    (services
     (cons* (service openssh-service-type
                     (openssh-configuration
                      (openssh openssh-sans-x)
                      (permit-root-login #t)
                      (allow-empty-passwords? #f)
                      (authorized-keys
                       (list (list "root" admin-key)
                             (list "alice" (local-file "keys/alice.pub" #:recursive? #f)
                                   (plain-file "alice-laptop.pub"
                                               "ssh-ed25519 AAAAC3Nza alice@laptop"))))))
            (simple-service 'gc-job mcron-service-type
                            (list garbage-collector-job))
            (service dhcp-client-service-type)
            (modify-services %base-services
              (login-service-type config =>
                                  (login-configuration
                                   (inherit config)
                                   (motd vm-image-motd))))))))
"""


def test_vm_image_with_let_gexps_and_keys():
    s = summarize_os(VM_IMAGE, "vm-image.scm")
    assert (s.host_name, s.timezone) == ("gnu", "Etc/UTC")
    assert s.users == ("%base-user-accounts",)
    assert s.packages == ("nvi", "curl", "%base-packages")
    assert [(x.type, x.kind) for x in s.services] == [
        ("openssh-service-type", "service"),
        ("mcron-service-type", "simple-service"),
        ("dhcp-client-service-type", "service"),
        ("%base-services", "base"),
        ("login-service-type", "modified"),
    ]
    assert s.services[1].config == "'gc-job (list garbage-collector-job)"
    assert s.services[4].config == "(login-configuration (inherit config) (motd vm-image-motd))"
    assert s.authorized_keys == (
        ("root", "keys/admin.pub"),
        ("alice", "keys/alice.pub"),
        ("alice", "ssh-ed25519 AAAAC3Nza alice@laptop"),
    )
    # computed paths (string-append) are not listed: vmfleet cannot know them
    assert s.local_files == ("keys/admin.pub", "keys/alice.pub")
    assert s.fields["firmware"] == "'()"


def test_reader_keeps_gexps_chars_and_escapes_of_the_vm_image():
    forms = read_forms(VM_IMAGE, "vm-image.scm")
    motd = forms[3][2]
    assert motd[2].startswith("\n\x1b[1;37mThis is the GNU system.")
    assert "'root', then \"guix pull\"." in motd[2]
    job = forms[4][2]
    assert render(job) == '#~(job "0 3 * * *" (string-append #$guix "/bin/guix gc -F 1G"))'
    let_bindings = forms[6][1]
    assert let_bindings[1] == [S("separator"), Char(",", ",")]


def test_openssh_keys_from_a_defined_configuration_and_simple_service():
    text = """(use-modules (gnu))
(use-service-modules ssh)
(define %keys `(("root" ,(local-file "root.pub"))))
(define %sshd (openssh-configuration (authorized-keys %keys)))
(operating-system
  (host-name "h") (timezone "UTC")
  (bootloader (bootloader-configuration (bootloader grub-bootloader)))
  (file-systems %base-file-systems)
  (services (cons* (service openssh-service-type %sshd)
                   (simple-service 'more-keys openssh-service-type
                                   `(("deploy" ,(local-file "deploy.pub"))))
                   %base-services)))"""
    s = summarize_os(text, "os.scm")
    assert s.authorized_keys == (("root", "root.pub"), ("deploy", "deploy.pub"))
    # a service whose configuration is a defined variable records the definition
    assert s.services[0].config == (
        "(openssh-configuration (authorized-keys %keys))")
    assert s.local_files == ("root.pub", "deploy.pub")


def test_inherit_merges_fields_of_an_os_in_the_same_file():
    text = """(use-modules (gnu))
(define %base-os
  (operating-system
    (host-name "base")
    (timezone "Europe/Berlin")
    (bootloader (bootloader-configuration (bootloader grub-bootloader)
                                          (targets '("/dev/vda"))))
    (file-systems %base-file-systems)
    (packages (cons (specification->package "htop") %base-packages))))

(operating-system
  (inherit %base-os)
  (host-name "web2"))
"""
    s = summarize_os(text, "web2.scm")
    assert (s.host_name, s.timezone, s.bootloader) == ("web2", "Europe/Berlin", "grub-bootloader")
    assert s.packages == ("htop", "%base-packages")
    assert s.fields["inherit"] == "%base-os" and s.fields["host-name"] == '"web2"'


def test_os_as_a_defined_name_returned_last():
    text = """(use-modules (gnu))
(define my-os (operating-system (host-name "last") (timezone "UTC")))
(define other (operating-system (host-name "not-me") (timezone "UTC")))
my-os
"""
    assert summarize_os(text, "os.scm").host_name == "last"


def test_missing_required_fields_are_none_and_the_caller_decides():
    s = summarize_os('(operating-system (host-name "x"))', "min.scm")
    assert (s.host_name, s.timezone, s.bootloader, s.locale) == ("x", None, None, None)
    # Absent packages and services are Guix's defaults (gnu/system.scm): the base lists.
    assert s.packages == ("%base-packages",) and s.fields == {"host-name": '"x"'}
    assert [(x.type, x.kind) for x in s.services] == [("%base-services", "base")]


def test_absent_users_are_guixs_default_accounts():
    # gnu/system.scm@8e2f32cee98:253-254: (users … (default %base-user-accounts)), the account
    # "nobody" (gnu/system/shadow.scm@8e2f32cee98:109); the same at every known pin.
    s = summarize_os('(operating-system (host-name "x"))', "min.scm")
    assert s.users == ("%base-user-accounts",) and s.to_dict()["users"] == ["%base-user-accounts"]
    assert s.user_groups == ()   # no account the config declares (root is added apart)
    # Written users are as written; an OS inherited from elsewhere keeps that OS's users.
    s = summarize_os('(operating-system (host-name "x") (users (list (user-account '
                     '(name "ann") (group "users")))))', "u.scm")
    assert s.users == ("ann",)
    s = summarize_os("(use-modules (gnu system install))\n"
                     '(operating-system (inherit installation-os) (host-name "x"))', "i.scm")
    assert s.inherits == "installation-os" and s.users == ()


def test_computed_values_are_kept_as_canonical_text():
    s = summarize_os('(operating-system (host-name (string-append "web-" "01")))', "c.scm")
    assert s.host_name == '(string-append "web-" "01")'


def test_not_an_operating_system():
    with pytest.raises(SchemeError) as e:
        summarize_os(DESCRIBE_OUTPUT, "systems/web.scm")
    assert e.value.message == "systems/web.scm: no operating-system declaration found"
    assert "operating-system" in e.value.hint


def test_malformed_config_reports_its_position():
    broken = BARE_BONES.replace('(host-name "komputilo")', '(host-name "komputilo"')
    with pytest.raises(SchemeError, match=r"^web.scm:\d+:\d+: unclosed '\('"):
        summarize_os(broken, "web.scm")


def test_local_files_in_order_without_repeats():
    text = """(list (local-file "b.pub") #~(x #$(local-file "../common/a.conf" "a.conf"))
                (local-file "b.pub") (local-file "dir" #:recursive? #t)
                (local-file (string-append "computed" ".pub")))"""
    assert local_files(text, "x.scm") == ["b.pub", "../common/a.conf", "dir"]


def test_summary_to_dict_is_json_ready():
    import json
    s = summarize_os(VM_IMAGE, "vm.scm")
    d = json.loads(json.dumps(s.to_dict()))
    assert d["services"][0]["type"] == "openssh-service-type"
    assert d["authorized_keys"][0] == ["root", "keys/admin.pub"]
    assert d["packages"][-1] == "%base-packages"


# --- the example systems ----------------------------------------------------------------------


@pytest.mark.parametrize("name, service", [("web", "nginx-service-type"),
                                           ("db", "postgresql-service-type")])
def test_example_systems(name, service):
    s = summarize_os((SYSTEMS / f"{name}.scm").read_text(), f"systems/{name}.scm")
    assert s.host_name == name
    assert s.bootloader == "grub-bootloader"
    assert "(targets '(\"/dev/vda\"))" in s.fields["bootloader"]
    assert '(device "/dev/vda2") (type "ext4")' in s.fields["file-systems"]
    assert s.packages[-1] == "%base-packages"
    types = [x.type for x in s.services]
    assert types[:2] == ["dhcp-client-service-type", "openssh-service-type"]
    assert service in types and types[-1] == "%base-services"
    expected_keys = {"web": (("deploy", "vmfleet.pub"), ("root", "vmfleet.pub")),
                     "db": (("dba", "vmfleet.pub"),)}
    assert s.authorized_keys == expected_keys[name]
    assert s.local_files == ("vmfleet.pub",)
    # web permits root logins with a key; db keeps Guix's default (#f): vmfleet logs in as dba.
    assert ("(permit-root-login 'prohibit-password)" in s.services[1].config) == (name == "web")
    assert (SYSTEMS / "vmfleet.pub").read_text().startswith("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5")
    if name == "web":
        assert "nginx" in s.packages


# --- properties -------------------------------------------------------------------------------

SCHEME_CHARS = list("()[]'`,@#;|\\\"abcxt:~$+!{}1.-/ \n\t") + ["#\\", "#;", "#|", "|#", ",@"]
scheme_text = st.one_of(
    st.lists(st.sampled_from(SCHEME_CHARS), max_size=40).map("".join),
    st.text(max_size=40),
)
FAST = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])
# generating nested data costs more than reading it: fewer examples keep the file under 2 s
FAST_DATA = settings(max_examples=40, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(scheme_text)
def test_reader_never_fails_with_anything_but_scheme_error(text):
    try:
        forms = read_forms(text, "fuzz.scm")
    except SchemeError as e:
        assert e.message.startswith("fuzz.scm")
        return
    # and whatever it reads renders to one line that reads back the same
    rendered = [render(f) for f in forms]
    assert all("\n" not in r for r in rendered)
    assert read_forms(" ".join(rendered), "again.scm") == forms


@FAST
@given(scheme_text)
def test_summaries_and_channels_never_crash(text):
    for parse in (parse_channels, summarize_os, local_files):
        try:
            parse(text, "fuzz.scm")
        except SchemeError:
            pass


symbols = st.from_regex(r"[a-z%*<>=!?/+\-][a-z0-9%*<>=!?/+\-.>]{0,8}", fullmatch=True) \
    .filter(lambda s: reader._number(s) is None).map(Symbol)
odd_symbols = st.text(alphabet="ab ()#'\"}\\\n", min_size=0, max_size=5).map(Symbol)
atoms = st.one_of(
    symbols, odd_symbols, st.text(max_size=10), st.integers(), st.booleans(),
    st.floats(allow_nan=False), st.fractions().filter(lambda f: f.denominator != 1),
    # Guile's characters are Unicode scalar values: #\xd800 (a surrogate) reads as no character.
    st.characters(exclude_categories=("Cs",)).map(reader._char_of),
    symbols.map(lambda s: Keyword(str(s))),
)
data = st.recursive(
    atoms,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(Form),
        st.tuples(st.sampled_from(["quote", "quasiquote", "unquote", "unquote-splicing",
                                   "gexp", "ungexp", "ungexp-splicing"]), inner)
        .map(lambda t: Form([Symbol(t[0]), t[1]])),
        st.lists(inner, max_size=3).map(Vector),
    ),
    max_leaves=12,
)


@FAST_DATA
@given(data)
def test_render_reads_back_as_the_same_datum(datum):
    assert read_forms(render(datum), "r.scm") == [datum]


@FAST_DATA
@given(st.lists(data, min_size=1, max_size=4), st.integers(0, 6))
def test_a_stray_close_paren_is_reported_where_it_is(forms, indent):
    text = "\n".join(render(f) for f in forms) + "\n" + " " * indent + ")"
    with pytest.raises(SchemeError) as e:
        read_forms(text, "s.scm")
    assert e.value.message.startswith(f"s.scm:{len(forms) + 1}:{indent + 1}: unexpected ')'")


@FAST_DATA
@given(st.lists(data, min_size=0, max_size=4), st.text(alphabet="ab ()", max_size=6))
def test_an_unterminated_string_is_reported_where_it_opens(forms, tail):
    head = "".join(render(f) + "\n" for f in forms)
    with pytest.raises(SchemeError) as e:
        read_forms(head + '(x "' + tail, "s.scm")
    assert e.value.message.startswith(f"s.scm:{len(forms) + 1}:4: unterminated string")
