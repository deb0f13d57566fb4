;; nginx with a hand-written configuration file that lives one level up
;; (../files/nginx.conf).  Written for vmfleet's test corpus.

(use-modules (gnu))
(use-service-modules networking ssh web)

(operating-system
  (host-name "kestrel")
  (timezone "Europe/Madrid")
  (locale "es_ES.utf8")
  (bootloader (bootloader-configuration
                (bootloader grub-bootloader)
                (targets '("/dev/vda"))))
  (file-systems (cons (file-system
                        (mount-point "/")
                        (device "/dev/vda2")
                        (type "ext4"))
                      %base-file-systems))
  (packages (cons (specification->package "curl") %base-packages))
  (services
   (append (list (service dhcp-client-service-type)
                 (service openssh-service-type)
                 (service nginx-service-type
                          (nginx-configuration
                           (file (local-file "../files/nginx.conf")))))
           %base-services)))
