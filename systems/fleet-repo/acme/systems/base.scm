;; What every acme machine shares: BIOS GRUB on /dev/vda, DHCP, and SSH with
;; vmfleet's key for the "deploy" account (in wheel) and for root (keys only).
;; Hosts inherit from %acme-base-os; this module builds nothing by itself.
;;
;; Build a host from the repository root (systems/fleet-repo):
;;   guix time-machine -C channels.scm -- \
;;     system image -t qcow2 -L . acme/systems/web.scm
(define-module (acme systems base)
  #:use-module (gnu)
  #:use-module (gnu services networking)
  #:use-module (gnu services ssh)
  #:export (%acme-base-os %acme-base-services))

;; %acme-users: the accounts, kept in a file of their own next to this one.
(include "accounts.scm")

;; vmfleet writes its public key to systems/vmfleet.pub (three levels up
;; from this file: acme/systems -> fleet-repo -> systems).
(define %vmfleet-key (local-file "../../../vmfleet.pub"))

(define %acme-base-services
  (append (list (service dhcp-client-service-type)
                (service openssh-service-type
                         (openssh-configuration
                          (permit-root-login 'prohibit-password)
                          (password-authentication? #f)
                          (authorized-keys
                           `(("deploy" ,%vmfleet-key)
                             ("root" ,%vmfleet-key))))))
          (modify-services %base-services
            (login-service-type config =>
                                (login-configuration
                                 (inherit config)
                                 (motd (local-file "motd")))))))

(define %acme-base-os
  (operating-system
    (host-name "acme-base")
    (timezone "Europe/Berlin")
    (locale "en_US.utf8")
    (bootloader (bootloader-configuration
                  (bootloader grub-bootloader)
                  (targets '("/dev/vda"))))
    (file-systems (cons (file-system
                          (mount-point "/")
                          (device "/dev/vda2")
                          (type "ext4"))
                        %base-file-systems))
    (users (append %acme-users %base-user-accounts))
    (packages (cons (specification->package "htop") %base-packages))
    (services %acme-base-services)))
