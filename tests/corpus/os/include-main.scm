;; The user list lives in parts/users.scm and is spliced in with `include'.
;; `include' reads the file relative to THIS file's directory at expansion
;; time; the key named inside parts/users.scm is relative to parts/.
;; Written for vmfleet's test corpus.

(use-modules (gnu))
(use-service-modules networking ssh)

(include "parts/users.scm")

(operating-system
  (host-name "heron")
  (timezone "Europe/Oslo")
  (locale "nb_NO.utf8")
  (bootloader (bootloader-configuration
                (bootloader grub-bootloader)
                (targets '("/dev/vda"))))
  (file-systems (cons (file-system
                        (mount-point "/")
                        (device "/dev/vda2")
                        (type "ext4"))
                      %base-file-systems))
  (users (append %heron-users %base-user-accounts))
  (services (append (list (service dhcp-client-service-type)
                          (service openssh-service-type
                                   (openssh-configuration
                                    (authorized-keys %heron-keys))))
                    %base-services)))
