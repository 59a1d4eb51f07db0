/* How tessera-pkcs11.so introduces itself in C_GetInfo. The agent reads it
 * too: it never loads this module, whatever the file is called. */
#pragma once

#define P11_MANUFACTURER "Tessera"
#define P11_LIBRARY_DESCRIPTION "Tessera agent forwarder"
