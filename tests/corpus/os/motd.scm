;; A message of the day kept next to the config: the plain, literal,
;; relative local-file.  Written for vmfleet's test corpus.

(use-modules (gnu))
(use-service-modules networking ssh)

(operating-system
  (host-name "gannet")
  (timezone "Europe/Dublin")
  (locale "en_IE.utf8")
  (bootloader (bootloader-configuration
                (bootloader grub-bootloader)
                (targets '("/dev/vda"))))
  (file-systems (cons (file-system
                        (mount-point "/")
                        (device "/dev/vda2")
                        (type "ext4"))
                      %base-file-systems))
  (services
   (append (list (service dhcp-client-service-type)
                 (service openssh-service-type))
           (modify-services %base-services
             (login-service-type config =>
                                 (login-configuration
                                  (inherit config)
                                  (motd (local-file "files/motd"))))))))
