/* The regulator's workspace: the admin's navigation sidebar starts collapsed, leaving a laptop's
   width to the page; once a reader opens or closes it, the admin remembers their choice. Loaded
   before the admin's nav_sidebar.js, which reads the same setting. */
"use strict";
(function () {
  var KEY = "django.admin.navSidebarIsOpen";
  try {
    if (window.localStorage.getItem(KEY) === null) { window.localStorage.setItem(KEY, "false"); }
  } catch (e) { /* storage refused: the admin's own default applies */ }
}());
