/* jung_cmds.c - placeholder translation unit; the broker and up commands land here. */
typedef int jung_cmds_placeholder;
