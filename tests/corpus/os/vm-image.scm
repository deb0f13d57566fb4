;; A throwaway VM image in the style of Guix's vm-image template: root may log
;; in with a key (permit-root-login 'prohibit-password), no password login.
;; Written for vmfleet's test corpus.

(use-modules (gnu) (guix))
(use-service-modules networking ssh)
(use-package-modules curl ssh)

(operating-system
  (host-name "scratch")
  (timezone "Etc/UTC")
  (locale "en_US.utf8")

  (bootloader (bootloader-configuration
               (bootloader grub-bootloader)
               (targets '("/dev/vda"))
               (terminal-outputs '(console))))

  (file-systems (cons (file-system
                        (mount-point "/")
                        (device "/dev/vda1")
                        (type "ext4"))
                      %base-file-systems))

  (packages (append (list curl) %base-packages))

  (services
   (append (list (service dhcp-client-service-type)
                 (service openssh-service-type
                          (openssh-configuration
                           (permit-root-login 'prohibit-password)
                           (password-authentication? #f)
                           (authorized-keys
                            `(("root" ,(local-file "../keys/admin.pub")))))))
           %base-services)))
