;; Services built inside let forms, with the port and the user list bound
;; first.  Written for vmfleet's test corpus.

(use-modules (gnu))
(use-service-modules networking ssh databases)
(use-package-modules databases)

(operating-system
  (host-name "bittern")
  (timezone "Europe/Brussels")
  (locale "nl_BE.utf8")
  (bootloader (bootloader-configuration
                (bootloader grub-bootloader)
                (targets '("/dev/vda"))))
  (file-systems (cons (file-system
                        (mount-point "/")
                        (device "/dev/vda2")
                        (type "ext4"))
                      %base-file-systems))
  (services
   (cons* (service dhcp-client-service-type)
          (let ((port 2222))
            (service openssh-service-type
                     (openssh-configuration
                      (port-number port)
                      (password-authentication? #f))))
          (let* ((version postgresql-15)
                 (config (postgresql-configuration
                          (postgresql version))))
            (service postgresql-service-type config))
          %base-services)))
