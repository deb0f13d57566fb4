;; Included by ../include-main.scm: not a config of its own.

(define %heron-users
  (list (user-account
         (name "deploy")
         (comment "Deployment robot")
         (group "users")
         (supplementary-groups '("wheel")))))

;; Relative to this file's directory (os/parts/), as the forms below come
;; from this file.
(define %heron-keys
  `(("deploy" ,(local-file "keys/deploy.pub"))))
