;;; The channels of channels files as the built Guix reads them, for
;;; tests/realguix/test_channels.py. Run through the built Guix:
;;;   pre-inst-env guix repl -- channels-record.scm FILE...
;;; Each FILE is loaded as `guix pull' and `guix time-machine -C' load it
;;; (guix/scripts/pull.scm@8e2f32cee98:747: load* in a user module with (guix channels)).
;;; Prints one JSON list: for each file, its channels (name, url, branch, commit, and the
;;; introduction's commit and signer) or, when it is not a list of channels, the error.

(use-modules (guix ui) (guix channels) (guix openpgp) (json) (ice-9 match) (srfi srfi-1))

(define (or-null x) (or x 'null))

(define (introduction->json intro)
  (if intro
      `(("commit" . ,(channel-introduction-first-signed-commit intro))
        ("signer" . ,(openpgp-format-fingerprint
                      (channel-introduction-first-commit-signer intro))))
      'null))

(define (channel->json ch)
  `(("name" . ,(symbol->string (channel-name ch)))
    ("url" . ,(channel-url ch))
    ("branch" . ,(or-null (channel-branch ch)))
    ("commit" . ,(or-null (channel-commit ch)))
    ("introduction" . ,(introduction->json (channel-introduction ch)))))

(define (read-file file)
  (catch #t
    (lambda ()
      (let ((value (load* file (make-user-module '((guix channels))))))
        (if (and (list? value) (every channel? value))
            `(("channels" . ,(list->vector (map channel->json value))))
            `(("error" . "not a list of channels")))))
    (lambda args
      `(("error" . ,(format #f "~s" args))))))

(match (command-line)
  ((_ files ...)
   (display (scm->json-string (list->vector (map read-file files))))
   (newline)))
