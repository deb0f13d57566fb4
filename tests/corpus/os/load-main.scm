;; Shared package and service lists are pulled in at run time with `load'
;; (relative to this file's directory).  Written for vmfleet's test corpus.

(use-modules (gnu))
(use-service-modules networking ssh)
(use-package-modules admin)

(load "parts/common.scm")

(operating-system
  (host-name "ibis")
  (timezone "Africa/Nairobi")
  (locale "en_US.utf8")
  (bootloader (bootloader-configuration
                (bootloader grub-bootloader)
                (targets '("/dev/vda"))))
  (file-systems (cons (file-system
                        (mount-point "/")
                        (device "/dev/vda2")
                        (type "ext4"))
                      %base-file-systems))
  (users (cons (user-account
                (name "wanjiru")
                (group "users")
                (supplementary-groups '("wheel")))
               %base-user-accounts))
  (packages (append %common-packages %base-packages))
  (services (append %common-services %base-services)))
