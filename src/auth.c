/* auth: being written */
