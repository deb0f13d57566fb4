;; Included by base.scm (not a module): the people who run acme machines.
(define %acme-users
  (list (user-account
         (name "deploy")
         (comment "Deployments")
         (group "users")
         (supplementary-groups '("wheel")))))
