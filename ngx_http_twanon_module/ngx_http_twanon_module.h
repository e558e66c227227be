
/*
 * Copyright (C) twanon authors
 */


#ifndef _NGX_HTTP_TWANON_MODULE_H_INCLUDED_
#define _NGX_HTTP_TWANON_MODULE_H_INCLUDED_


#define NGX_HTTP_TWANON_VERSION  "0.1.0"


#endif /* _NGX_HTTP_TWANON_MODULE_H_INCLUDED_ */
