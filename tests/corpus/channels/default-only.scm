;; Just the defaults: unpinned guix.
%default-channels
