;; People and their keys, shared by every corp machine.
;; Written for vmfleet's test corpus.
(define-module (corp users)
  #:use-module (gnu system accounts)
  #:use-module (gnu system shadow)
  #:use-module (guix gexp)
  #:export (%corp-users %corp-ssh-keys))

(define %corp-users
  (list (user-account
         (name "ops")
         (comment "Operations")
         (group "users")
         (supplementary-groups '("wheel" "netdev")))))

;; Relative to this module's directory: corp/keys/ops.pub.
(define %corp-ssh-keys
  `(("ops" ,(local-file "keys/ops.pub"))))
